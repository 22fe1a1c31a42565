"""The objective of the optimisation: targets from the content and style images, loss terms, and
the one step function that the command line, the Python API and the exported models all run.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf

from tf_nst import layers, losses
from tf_nst.config import Config
from tf_nst.features import FeatureExtractor
from tf_nst.optimizers import Optimizer


class Targets(NamedTuple):
    """What the generated image is compared with, computed once per (content, style) pair."""

    content: tuple[tf.Tensor, ...]        # feature maps P of each content layer [B, H, W, N]
    style_gram_per_position: tuple[tf.Tensor, ...]  # A / M_style of each style layer [B, N, N]


class LossWeights(NamedTuple):
    """The weights of the loss terms, as tensors so that changing them never retraces."""

    content: tf.Tensor     # alpha
    style: tf.Tensor       # beta
    tv: tf.Tensor          # total-variation weight
    style_layers: tf.Tensor  # w_l, one per style layer

    @classmethod
    def from_config(cls, config: Config) -> "LossWeights":
        return cls(tf.constant(config.content_weight, tf.float32),
                   tf.constant(config.style_weight, tf.float32),
                   tf.constant(config.tv_weight, tf.float32),
                   tf.constant(config.resolved_style_layer_weights, tf.float32,
                               shape=[len(config.style_layers)]))


class Objective:
    """Loss terms of Gatys et al. 2016 measured by a :class:`FeatureExtractor`."""

    def __init__(self, extractor: FeatureExtractor, content_layers, style_layers) -> None:
        self.extractor = extractor
        self.content_layers = tuple(layers.keras_name(n) for n in content_layers)
        self.style_layers = tuple(layers.keras_name(n) for n in style_layers)

    def content_targets(self, content: tf.Tensor) -> tuple[tf.Tensor, ...]:
        if not self.content_layers:
            return ()
        features = self.extractor(content)
        return tuple(tf.cast(features[n], tf.float32) for n in self.content_layers)

    def style_targets(self, style: tf.Tensor) -> tuple[tf.Tensor, ...]:
        if not self.style_layers:
            return ()
        features = self.extractor(style)
        out = []
        for name in self.style_layers:
            fmap = features[name]
            positions = tf.cast(tf.shape(fmap)[1] * tf.shape(fmap)[2], tf.float32)
            out.append(losses.gram_matrix(fmap) / positions)
        return tuple(out)

    def targets(self, content: tf.Tensor, style: tf.Tensor) -> Targets:
        return Targets(self.content_targets(content), self.style_targets(style))

    def loss_terms(self, image: tf.Tensor, targets: Targets, weights: LossWeights
                   ) -> dict[str, tf.Tensor]:
        """All loss terms for ``image`` (per image, shape ``[B]``), weighted total included.

        Keys: ``total``, ``content``, ``style``, ``tv`` and per layer ``content/conv4_2``,
        ``style/conv1_1`` ... (the unweighted layer losses of Eqs. 1 and 4).
        """
        features = self.extractor(image)
        batch = tf.shape(image)[0]
        terms: dict[str, tf.Tensor] = {}
        content = tf.zeros([batch])
        for name, target in zip(self.content_layers, targets.content):
            value = losses.content_loss(features[name], target)
            terms[f"content/{layers.paper_name(name)}"] = value
            content += value
        style = tf.zeros([batch])
        for i, (name, per_position) in enumerate(zip(self.style_layers,
                                                     targets.style_gram_per_position)):
            fmap = features[name]
            positions = tf.shape(fmap)[1] * tf.shape(fmap)[2]
            gram = losses.gram_matrix(fmap)
            target = per_position * tf.cast(positions, tf.float32)
            value = losses.style_layer_loss(gram, target, positions)
            terms[f"style/{layers.paper_name(name)}"] = value
            style += weights.style_layers[i] * value
        terms["content"] = content
        terms["style"] = style
        terms["tv"] = losses.total_variation_loss(image)
        terms["total"] = losses.total_loss(terms, weights.content, weights.style, weights.tv)
        return terms


StepFn = Callable[[object, Targets, LossWeights], tuple[object, dict[str, tf.Tensor]]]


def make_step(objective: Objective, optimizer: Optimizer) -> StepFn:
    """The optimisation step: one loss-and-gradient evaluation and one optimiser update.

    ``step(state, targets, weights) -> (state, terms)``. A pure function of tensors (no variables
    but the network's frozen weights): wrap it in ``tf.function`` to run it step by step, or call it
    inside a ``tf.while_loop`` to run the whole optimisation in one graph. Only the image is watched,
    so no gradient with respect to the network's weights is ever built.
    """

    def step(state, targets: Targets, weights: LossWeights):
        x = optimizer.evaluation_point(state)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            terms = objective.loss_terms(x, targets, weights)
            summed = tf.reduce_sum(terms["total"])
        grad = tape.gradient(summed, x)
        return optimizer.update(state, terms["total"], grad), terms

    return step
