"""The pieces of a run built from a :class:`Config`: feature extractor -> objective (Gatys et al.
2016, Eq. 7) -> optimiser -> loss weights -> stepper (this device, or a strategy's replicas).

Every mode builds them here, so a Config means the same network, objective and optimiser wherever
it runs. Building VGG19 takes seconds, hence the extractor cache.
"""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

import tensorflow as tf

from tf_nst import optimizers, stepper
from tf_nst.config import Config
from tf_nst.features import FeatureExtractor
from tf_nst.objective import LossWeights, Objective


@functools.lru_cache(maxsize=4)
def get_extractor(layer_names: tuple[str, ...], pooling: str, weights: str, precision: str,
                  strategy: tf.distribute.Strategy | None) -> FeatureExtractor:
    """A cached :class:`FeatureExtractor`; with a ``strategy``, built under ``strategy.scope()``
    (its weights mirrored on every replica; the cache is keyed by the strategy)."""
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return FeatureExtractor(layer_names, pooling=pooling, weights=weights, precision=precision)


def extractor_for(config: Config, strategy: tf.distribute.Strategy | None = None
                  ) -> FeatureExtractor:
    """The cached extractor of ``config``'s layers, pooling, weights and precision."""
    return get_extractor(tuple(config.content_layers) + tuple(config.style_layers),
                         config.pooling, config.weights, config.compute_precision, strategy)


class RunParts(NamedTuple):
    """What the step function (:func:`tf_nst.objective.make_step`) is made of."""

    extractor: FeatureExtractor
    objective: Objective
    optimizer: optimizers.Optimizer
    weights: LossWeights
    stepper: stepper.LocalStepper | stepper.DistributedStepper


def build(config: Config, num_styles: int = 1,
          strategy: tf.distribute.Strategy | None = None,
          extractor: FeatureExtractor | None = None, builtin_ops: bool = False) -> RunParts:
    """The :class:`RunParts` of ``config`` for ``num_styles`` blended styles (under ``strategy``
    if given). The exports pass their own form of the network as ``extractor``, and the
    on-device model ``builtin_ops`` (an optimiser of TFLite's builtin operators)."""
    from tf_nst.distribute import is_distributed
    strategy = strategy if is_distributed(strategy) else None
    extractor = extractor or extractor_for(config, strategy)
    objective = Objective.from_config(extractor, config)
    optimizer = optimizers.from_config(config, builtin_ops=builtin_ops)
    return RunParts(extractor, objective, optimizer,
                    LossWeights.from_config(config, num_styles=num_styles),
                    stepper.make_stepper(objective, optimizer, strategy, config.jit_compile))
