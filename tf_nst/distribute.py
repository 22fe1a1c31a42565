"""Choosing a ``tf.distribute`` strategy by name (``--strategy``; docs/batch-and-distributed.md).

Each image is optimised on its own, so replicas never exchange gradients: a strategy only decides
which device optimises which images (:mod:`tf_nst.batch`). ``mirrored`` takes the GPUs of this
machine, or the logical CPUs set up with ``tf.config.set_logical_device_configuration``; ``tpu``
with an empty ``--tpu`` finds the TPU of a Colab runtime or a Cloud TPU VM.
"""

from __future__ import annotations

import json
import os
from typing import Callable

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


class StrategyError(RuntimeError):
    """A strategy that cannot be set up; ``str(err)`` is one line."""


def make_strategy(name: str = "default", tpu: str = "") -> tf.distribute.Strategy | None:
    """The strategy called ``name`` (None for ``default``).

    Create it first thing in a program: ``multi_worker`` must configure collective ops before
    TensorFlow initialises its devices.
    """
    if name not in STRATEGIES:
        raise StrategyError(f"--strategy={name}: must be one of {', '.join(STRATEGIES)}")
    if name == "default":
        return None
    if name == "multi_worker":
        _check_tf_config()
    try:
        if name == "mirrored":
            return tf.distribute.MirroredStrategy()
        if name == "multi_worker":
            return tf.distribute.MultiWorkerMirroredStrategy()
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        where = f" (--tpu={tpu})" if name == "tpu" and tpu else ""
        raise StrategyError(f"--strategy={name}{where}: cannot set up: {first}") from None


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return  # a single worker: MultiWorkerMirroredStrategy runs locally
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        task = config["task"]
        ok = (isinstance(workers, list) and task["type"] in ("worker", "chief")
              and int(task["index"]) >= 0)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise StrategyError('TF_CONFIG must look like {"cluster": {"worker": ["host:port", ...]}, '
                            '"task": {"type": "worker", "index": 0}}')


def is_distributed(strategy: tf.distribute.Strategy | None) -> bool:
    return strategy is not None and strategy is not tf.distribute.get_strategy()


def worker_index(strategy: tf.distribute.Strategy | None) -> int:
    """This process's worker number (0 unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0)


def on_each_device(strategy: tf.distribute.Strategy, make: Callable[[], object]):
    """``make()`` run on each device of this worker's replicas, as one distributed value: passed
    to ``strategy.run``, each replica gets the one made on its own device. For what is derived
    from the strategy's variables and needs no synchronising: nothing is broadcast.
    """
    devices = strategy.extended.worker_devices
    made = []
    for device in devices:
        with tf.device(device):
            made.append(make())
    # Local replicas are numbered in the order of their devices, after other workers' replicas.
    return strategy.experimental_distribute_values_from_function(
        lambda context: made[context.replica_id_in_sync_group % len(devices)])
