"""The objective of the optimisation: targets from the content and style images, loss terms, and
the one step function that the command line, the Python API and the exported models all run.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import tensorflow as tf

from tf_nst import layers, losses, normalization
from tf_nst.config import FORMULATIONS, Config
from tf_nst.features import FeatureExtractor
from tf_nst.optimizers import Optimizer


class Targets(NamedTuple):
    """What the generated image is compared with, computed once per (content, style) pair."""

    content: tuple[tf.Tensor, ...]        # feature maps P of each content layer [B, H, W, N]
    # A / M_style of each style layer, one per style image: [S, B, N, N] ([B, N, N] = one style).
    style_gram_per_position: tuple[tf.Tensor, ...]
    # Spatial guidance T_s of each style at each style layer's resolution, [S, B, h, w, 1]; empty
    # without masks (Gatys et al. 2017, Sec. 4).
    style_masks: tuple[tf.Tensor, ...] = ()


class LossWeights(NamedTuple):
    """The weights of the loss terms, as tensors so that changing them never retraces."""

    content: tf.Tensor     # alpha
    style: tf.Tensor       # beta
    tv: tf.Tensor          # total-variation weight
    style_layers: tf.Tensor  # w_l, one per style layer
    style_blend: tf.Tensor   # b_s, one per style image, summing to 1
    # Style-weight continuation (:func:`ramped_weights`): K steps (0 = constant beta), fraction s.
    style_ramp_steps: tf.Tensor | float = 0.0
    style_ramp_start: tf.Tensor | float = 1.0

    @classmethod
    def from_config(cls, config: Config, num_styles: int | None = None) -> "LossWeights":
        num_styles = num_styles or max(1, len(config.style_blend_weights))
        return cls(*(tf.constant(value, tf.float32) for value in (
            config.content_weight, config.style_weight, config.tv_weight,
            config.resolved_style_layer_weights, config.resolved_style_blend_weights(num_styles),
            config.style_ramp_steps, config.style_ramp_start)))


class Objective:
    """Loss terms of Gatys et al. 2016 measured by a :class:`FeatureExtractor`: with
    ``formulation='authors'`` mean-form losses (:mod:`tf_nst.losses`) on the normalised VGG19
    (:mod:`tf_nst.normalization`), as in the authors' released code; with ``'printed'`` the paper's
    printed sums on the raw network."""

    def __init__(self, extractor: FeatureExtractor, content_layers, style_layers,
                 formulation: str = "authors") -> None:
        if formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, not {formulation!r}")
        self.extractor = extractor
        self.content_layers = tuple(layers.keras_name(n) for n in content_layers)
        self.style_layers = tuple(layers.keras_name(n) for n in style_layers)
        self.mean = formulation == "authors"  # mean-form losses on the normalised network
        self._normalizers = {n: normalization.inverse_factors(n)
                             for n in self.content_layers + self.style_layers} if self.mean else {}

    @classmethod
    def from_config(cls, extractor: FeatureExtractor, config: Config) -> "Objective":
        """The objective a :class:`Config` describes, measured by ``extractor``."""
        return cls(extractor, config.content_layers, config.style_layers, config.formulation)

    def features(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """The feature maps the losses compare: the extractor's, divided filter by filter by the
        normalised network's factors in the authors' formulation."""
        return {name: fmap * tf.constant(self._normalizers[name], fmap.dtype)
                if name in self._normalizers else fmap
                for name, fmap in self.extractor(images).items()}

    def content_targets(self, content: tf.Tensor) -> tuple[tf.Tensor, ...]:
        if not self.content_layers:
            return ()
        features = self.features(content)
        return tuple(tf.cast(features[n], tf.float32) for n in self.content_layers)

    def style_targets(self, style: tf.Tensor) -> tuple[tf.Tensor, ...]:
        if not self.style_layers:
            return ()
        features = self.features(style)
        out = []
        for name in self.style_layers:
            fmap = features[name]
            positions = tf.cast(tf.shape(fmap)[1] * tf.shape(fmap)[2], tf.float32)
            out.append(losses.gram_matrix(fmap) / positions)
        return tuple(out)

    def style_grams(self, styles: Sequence[tf.Tensor]) -> tuple[tf.Tensor, ...]:
        """``Targets.style_gram_per_position`` of a list of style images: per style layer, each
        style's ``A / M`` stacked, ``[S, B, N, N]`` (independent of the output's size)."""
        per_style = [self.style_targets(tf.convert_to_tensor(s)) for s in styles]
        return tuple(tf.stack(layer) for layer in zip(*per_style))

    def targets(self, content: tf.Tensor, style: tf.Tensor | Sequence[tf.Tensor],
                style_masks: tf.Tensor | None = None) -> Targets:
        """Targets for ``content`` and one style image or a list of them (any sizes).
        ``style_masks`` ``[S, B, H, W, 1]`` at the content's size give style s the region where
        the mask is 1."""
        styles = [style] if hasattr(style, "shape") else style
        masks = (() if style_masks is None
                 else tuple(layer_masks(style_masks, name) for name in self.style_layers))
        return Targets(self.content_targets(content), self.style_grams(styles), masks)

    def loss_terms(self, image: tf.Tensor, targets: Targets, weights: LossWeights
                   ) -> dict[str, tf.Tensor]:
        """All loss terms of ``image``, each ``[B]``: ``total`` (Eq. 7 plus smoothing), ``content``,
        ``style``, ``tv`` and the unweighted layer losses of Eqs. 1 and 4 (``content/conv4_2``,
        ``style/conv1_1`` ...)."""
        features = self.features(image)
        batch = tf.shape(image)[0]
        terms: dict[str, tf.Tensor] = {}
        content = tf.zeros([batch])
        for name, target in zip(self.content_layers, targets.content):
            value = losses.content_loss(features[name], target, self.mean)
            terms[f"content/{layers.paper_name(name)}"] = value
            content += value
        style = tf.zeros([batch])
        for i, (name, per_position) in enumerate(zip(self.style_layers,
                                                     targets.style_gram_per_position)):
            fmap = features[name]
            if targets.style_masks:
                masks, blend = targets.style_masks[i], weights.style_blend
                if masks.shape[0] == 1 and per_position.shape[0] != 1:
                    # One region (a content mask) for all styles: blend the targets first.
                    per_position = tf.einsum("s,sbij->bij", blend, per_position)[None]
                    blend = tf.ones([1])
                value = losses.guided_style_layer_loss(fmap, per_position, blend, masks, self.mean)
            else:
                value = losses.blended_style_layer_loss(fmap, per_position, weights.style_blend,
                                                        self.mean)
            terms[f"style/{layers.paper_name(name)}"] = value
            style += weights.style_layers[i] * value
        terms.update(content=content, style=style,
                     tv=losses.total_variation_loss(image, self.mean))
        terms["total"] = losses.total_loss(terms, weights.content, weights.style, weights.tv)
        return terms


def layer_masks(masks: tf.Tensor, layer: str) -> tf.Tensor:
    """Masks ``[S, B, H, W, 1]`` at image size, area-averaged to a VGG19 layer's resolution (each
    2x2 pooling floors the size; a soft edge where a region boundary falls inside a cell)."""
    masks = tf.convert_to_tensor(masks, tf.float32)
    shape = tf.shape(masks)
    flat = tf.reshape(masks, tf.concat([[-1], shape[2:]], 0))
    size = tf.maximum(shape[2:4] // layers.smallest_side(layer), 1)
    resized = tf.image.resize(flat, size, method="area")
    return tf.reshape(resized, tf.concat([shape[:2], size, [1]], 0))


def ramped_weights(weights: LossWeights, steps_taken: tf.Tensor) -> LossWeights:
    """The weights of step k of a style-weight continuation (a homotopy of the objective):
    beta_k = beta (s + (1 - s) min(k / K, 1)) with K = ``style_ramp_steps`` and s =
    ``style_ramp_start``, so the early steps follow the content more; K = 0 changes nothing."""
    k = tf.cast(steps_taken, tf.float32)
    ramp_steps = tf.cast(weights.style_ramp_steps, tf.float32)
    start = tf.cast(weights.style_ramp_start, tf.float32)
    progress = tf.minimum(k / tf.maximum(ramp_steps, 1.0), 1.0)
    factor = tf.where(ramp_steps > 0, start + (1.0 - start) * progress, tf.ones_like(progress))
    return weights._replace(style=weights.style * factor)


StepFn = Callable[[object, Targets, LossWeights], tuple[object, dict[str, tf.Tensor]]]


# Loss scaling for float16 networks: the loss is scaled to 2^13 P / L (L = loss, P = pixels), which
# keeps VGG19's largest activation gradients far below float16's largest number and the smallest
# that matter above its normal range (docs/performance.md, "Design figures").
FLOAT16_LOSS_TARGET = 2.0 ** 13


def loss_scale(total: tf.Tensor, image: tf.Tensor) -> tf.Tensor:
    """Per-image power-of-two factor ``s`` for float16 backprop, ``grad = d(s L)/dx / s``: from
    this step's forward pass, so it follows the loss (which falls by orders of magnitude over a
    run) without state; powers of two make the unscaling exact."""
    pixels = tf.cast(tf.shape(image)[1] * tf.shape(image)[2], tf.float32)
    ratio = FLOAT16_LOSS_TARGET * pixels / tf.maximum(tf.stop_gradient(total), 1e-30)
    exponent = tf.clip_by_value(tf.round(tf.math.log(ratio) / tf.math.log(2.0)), -100.0, 100.0)
    return tf.pow(2.0, exponent)


def make_step(objective: Objective, optimizer: Optimizer) -> StepFn:
    """The optimisation step ``step(state, targets, weights) -> (state, terms)``: one
    loss-and-gradient evaluation and one optimiser update, a pure function of tensors to run in a
    ``tf.function`` or a ``tf.while_loop``. Only the image is watched, so the filter gradients are
    pruned (tests/test_flops.py). A float16 network's loss is scaled by :func:`loss_scale`. A
    style-weight continuation follows the optimiser's step count (:func:`ramped_weights`), and
    ``terms`` are the ramped objective's."""
    float16 = objective.extractor.compute_dtype == tf.float16

    def step(state, targets: Targets, weights: LossWeights):
        x = optimizer.evaluation_point(state)
        steps_taken = optimizer.steps_taken(state)
        weights_now = ramped_weights(weights, steps_taken)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            terms = objective.loss_terms(x, targets, weights_now)
            total = terms["total"]
            if float16:
                scale = loss_scale(total, x)
                total = total * scale
        grad = tape.gradient(total, x)  # of the batch's sum: each image's own gradient
        if float16:
            grad = grad / scale[:, None, None, None]
        # The last accepted loss was measured under the weights of step k - 1: a line search
        # compares it with the trial's terms re-weighted by those.
        before = ramped_weights(weights, tf.maximum(steps_taken - 1, 0))
        comparable = losses.total_loss(terms, before.content, before.style, before.tv)
        return optimizer.update(state, terms["total"], grad, comparable_loss=comparable), terms

    return step
