"""Where a run's steps execute: on this device, or on every replica of a ``tf.distribute`` strategy.

Both steppers run :func:`tf_nst.objective.make_step` with the finite flag of :mod:`tf_nst.health`,
and a :class:`~tf_nst.transfer.StyleTransfer` uses either the same way. Under a strategy each
replica optimises an equal share of the batch, padded with copies of its last image (dropped
again) so that every replica has the same shapes (TPUs need that); a worker of a multi-worker run
optimises only its own share (:meth:`local_indices`). Each replica prepares its kernels from its
own copy of the weights (:meth:`FeatureExtractor.computing_with`): nothing in bfloat16 is broadcast.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tf_nst import health
from tf_nst.distribute import is_distributed, on_each_device
from tf_nst.objective import Objective, Targets, layer_masks, make_step


class LocalStepper:
    """Runs every step on the current device."""

    def __init__(self, objective: Objective, optimizer, jit_compile: bool = False) -> None:
        self.objective, self.optimizer = objective, optimizer
        # One trace per image shape (the shape is static inside each trace).
        self._step = tf.function(health.with_finite_flag(make_step(objective, optimizer),
                                                         optimizer), jit_compile=jit_compile)

    def style_grams(self, styles: Sequence[tf.Tensor], count: int = 1):
        """Per style layer, each style's ``A / M`` stacked ``[S, B, N, N]``: ``B`` = 1, or
        ``count`` (the content images) when each has its own colour-matched style."""
        return self.objective.style_grams(styles)

    def begin(self, content: tf.Tensor, start: tf.Tensor, grams, masks=None):
        """``(targets, state)`` of optimising ``start`` towards ``content`` and ``grams``; style
        ``masks`` ``[S, 1, H, W, 1]`` at the content's size, or None."""
        return _targets(self.objective, content, grams, masks), self.optimizer.init(start)

    def step(self, state, targets: Targets, weights):
        """One step: ``(state, terms, finite)``; ``terms`` per image (this process's images)."""
        state, terms, finite = self._step(state, targets, weights)
        return state, terms, bool(finite)

    def image(self, state) -> tf.Tensor:
        """This process's images, ``[L, H, W, 3]`` in the order of :meth:`local_indices`."""
        return self.optimizer.image(state)

    def local_indices(self, count: int) -> list[int]:
        return list(range(count))

    def host_state(self, state):
        """``state`` as a checkpoint holds it (on one device, the state itself)."""
        return state

    def device_state(self, saved):
        """The inverse of :meth:`host_state`."""
        return saved


def _targets(objective: Objective, content, grams, masks) -> Targets:
    layer = () if masks is None else tuple(layer_masks(masks, n) for n in objective.style_layers)
    return Targets(objective.content_targets(content), grams, layer)


class DistributedStepper:
    """Runs every step on the replicas of ``strategy``, each on its share of the batch."""

    def __init__(self, strategy: tf.distribute.Strategy, objective: Objective, optimizer) -> None:
        self.strategy, self.objective, self.optimizer = strategy, objective, optimizer
        self._local_results = strategy.experimental_local_results
        step = health.with_finite_flag(make_step(objective, optimizer), optimizer)
        self._step = tf.function(lambda *args: self._on_replicas(step, *args),
                                 reduce_retracing=True)
        self._image = tf.function(lambda state: strategy.run(optimizer.image, args=(state,)))

        @tf.function
        def ids_of_replicas():
            return strategy.run(
                lambda: tf.constant(1)
                * tf.distribute.get_replica_context().replica_id_in_sync_group)

        self.kernels = on_each_device(
            strategy, lambda: objective.extractor.prepare_weights(only_changed=True))
        # The replicas of this process, in the order of its local results.
        self.replica_ids = [int(v) for v in self._local_results(ids_of_replicas())]
        self._count = 1

    def _on_replicas(self, fn, *args):
        """``fn(*args)`` on every replica, with that replica's kernels."""
        def with_kernels(kernels, *args):
            with self.objective.extractor.computing_with(kernels):
                return fn(*args)
        return self.strategy.run(with_kernels, args=(self.kernels, *args))

    def _share(self, count: int) -> int:
        """Images per replica for a batch of ``count``."""
        return -(-count // self.strategy.num_replicas_in_sync)

    def _split(self, tensor: tf.Tensor):
        """A batch tensor split over the replicas (padded); one of a single image replicated."""
        tensor = tf.convert_to_tensor(tensor)
        if int(tensor.shape[0]) != self._count or self._count == 1:
            return tensor
        share, replicas = self._share(self._count), self.strategy.num_replicas_in_sync
        padded = tf.gather(tensor, [min(i, self._count - 1) for i in range(share * replicas)])
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: padded[ctx.replica_id_in_sync_group * share:
                               (ctx.replica_id_in_sync_group + 1) * share])

    # The targets are computed eagerly, op by op, as on one device: in a graph, a convolution, its
    # bias and ReLU fuse into one op that rounds to bfloat16 once instead of twice.
    def style_grams(self, styles: Sequence[tf.Tensor], count: int = 1):
        self._count = count
        return self._on_replicas(self.objective.style_grams, [self._split(s) for s in styles])

    def begin(self, content: tf.Tensor, start: tf.Tensor, grams, masks=None):
        self._count = int(content.shape[0])
        return self._on_replicas(
            lambda c, s, g: (_targets(self.objective, c, g, masks), self.optimizer.init(s)),
            self._split(content), self._split(start), grams)

    def step(self, state, targets: Targets, weights):
        state, terms, finite = self._step(state, targets, weights)
        terms = {k: self._local(v) for k, v in terms.items()}
        return state, terms, all(bool(f) for f in self._local_results(finite))

    def image(self, state) -> tf.Tensor:
        return self._local(self._image(state))

    def _local(self, per_replica) -> tf.Tensor:
        """This process's replicas' values of ``per_replica`` concatenated, the padding dropped."""
        share, keep = self._share(self._count), []
        for rid, value in zip(self.replica_ids, self._local_results(per_replica)):
            count = min(share, max(0, self._count - rid * share))
            keep.append(tf.identity(value)[:count])
        return tf.concat(keep, 0)

    def local_indices(self, count: int) -> list[int]:
        share = self._share(count)
        return [index for rid in self.replica_ids
                for index in range(rid * share, min((rid + 1) * share, count))]

    def host_state(self, state):
        """Each field's values on this process's replicas, stacked ``[R, ...]`` (every replica
        has the same shapes): a worker checkpoints its own replicas."""
        return tf.nest.map_structure(
            lambda v: tf.stack([tf.identity(x) for x in self._local_results(v)]), state)

    def device_state(self, saved):
        """The inverse of :meth:`host_state`: row ``r`` to this process's ``r``-th replica."""
        def spread(value):
            return self.strategy.experimental_distribute_values_from_function(
                lambda ctx: value[self.replica_ids.index(ctx.replica_id_in_sync_group)])
        return tf.nest.map_structure(spread, saved)


def make_stepper(objective: Objective, optimizer, strategy=None, jit_compile: bool = False):
    """A :class:`DistributedStepper` under a non-default strategy, else a :class:`LocalStepper`."""
    if is_distributed(strategy):
        return DistributedStepper(strategy, objective, optimizer)
    return LocalStepper(objective, optimizer, jit_compile)
