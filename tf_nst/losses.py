"""The loss functions of Gatys et al. 2016, as pure functions of tensors.

Feature maps are ``[batch, height, width, channels]``; every loss returns one value per image
(shape ``[batch]``) so that images of a batch are optimised independently. Gram matrices and losses
are computed in float32 whatever the network's precision (float16 Gram matrices overflow).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import tensorflow as tf


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Content loss, Eq. 1: L_content = 1/2 * sum_ij (F_ij - P_ij)^2, per image."""
    diff = tf.cast(features, tf.float32) - tf.cast(target, tf.float32)
    return 0.5 * tf.reduce_sum(tf.square(diff), axis=[1, 2, 3])


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Gram matrix, Eq. 3: G_ij = sum_k F_ik F_jk over the M = H*W positions; ``[batch, N, N]``.

    Not normalised: the 1/(4 N^2 M^2) of Eq. 4 is applied by :func:`style_layer_loss`.
    """
    features = tf.cast(features, tf.float32)
    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], shape[1] * shape[2], shape[3]])  # [B, M, N]
    return tf.matmul(flat, flat, transpose_a=True)


def style_layer_loss(gram: tf.Tensor, target_gram: tf.Tensor, num_positions: tf.Tensor) -> tf.Tensor:
    """One layer's style loss, Eq. 4: E_l = sum_ij (G_ij - A_ij)^2 / (4 N^2 M^2), per image.

    ``num_positions`` is M = H*W of the *generated* image's feature map; ``target_gram`` must be
    normalised to that M (see :func:`rescale_gram`) when the style image has another size.
    """
    n = tf.cast(tf.shape(gram)[-1], tf.float32)
    m = tf.cast(num_positions, tf.float32)
    sq = tf.reduce_sum(tf.square(gram - tf.cast(target_gram, tf.float32)), axis=[1, 2])
    return sq / (4.0 * tf.square(n) * tf.square(m))


def rescale_gram(gram: tf.Tensor, from_positions, to_positions) -> tf.Tensor:
    """Rescale a Gram matrix of a map with ``from_positions`` positions to ``to_positions``.

    G grows linearly with M, so a style image of another size than the output is compared through
    G * M_out / M_style: the per-position statistics G/M are what the style loss matches.
    """
    ratio = tf.cast(to_positions, tf.float32) / tf.cast(from_positions, tf.float32)
    return gram * ratio


def style_loss(grams: Sequence[tf.Tensor], target_grams: Sequence[tf.Tensor],
               num_positions: Sequence[tf.Tensor], layer_weights: Sequence[float] | tf.Tensor
               ) -> tf.Tensor:
    """Style loss, Eq. 5: L_style = sum_l w_l E_l, per image."""
    total = 0.0
    for i, (g, a, m) in enumerate(zip(grams, target_grams, num_positions)):
        total += layer_weights[i] * style_layer_loss(g, a, m)
    return total


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Squared total variation of 0-255 pixels, per image.

    TV(x) = sum_ij (x_{i,j+1} - x_ij)^2 + (x_{i+1,j} - x_ij)^2 (Mahendran & Vedaldi 2015, beta = 2).
    """
    image = tf.cast(image, tf.float32) * 255.0
    # tf.slice rather than strided indexing: its gradient is a Pad, which TFLite has as a builtin
    # (StridedSliceGrad is not), so the exported on-device optimisation stays builtin-only.
    shape = tf.shape(image)
    dy = tf.slice(image, [0, 1, 0, 0], [-1, -1, -1, -1]) - tf.slice(
        image, [0, 0, 0, 0], tf.stack([-1, shape[1] - 1, -1, -1]))
    dx = tf.slice(image, [0, 0, 1, 0], [-1, -1, -1, -1]) - tf.slice(
        image, [0, 0, 0, 0], tf.stack([-1, -1, shape[2] - 1, -1]))
    return tf.reduce_sum(tf.square(dy), axis=[1, 2, 3]) + tf.reduce_sum(tf.square(dx), axis=[1, 2, 3])


def total_loss(terms: Mapping[str, tf.Tensor], content_weight, style_weight, tv_weight) -> tf.Tensor:
    """Eq. 7 plus smoothing: L = alpha L_content + beta L_style + tv_weight TV, per image."""
    return (content_weight * terms["content"] + style_weight * terms["style"]
            + tv_weight * terms["tv"])
