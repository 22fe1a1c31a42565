"""The loss functions of Gatys et al. 2016, as pure functions of tensors.

Feature maps are ``[batch, height, width, channels]``; every loss returns one value per image
(shape ``[batch]``), in float32 whatever the network's precision (float16 Gram matrices overflow).
``mean=False`` gives the paper's printed sums (Eqs. 1 and 4), ``mean=True`` the means of the
authors' released code, which keep alpha/beta meaning the same at every image size.
"""

from __future__ import annotations

from typing import Mapping

import tensorflow as tf


def content_loss(features: tf.Tensor, target: tf.Tensor, mean: bool = False) -> tf.Tensor:
    """Content loss, Eq. 1: L_content = 1/2 * sum_ij (F_ij - P_ij)^2, per image; with ``mean``,
    the mean of (F_ij - P_ij)^2 over the N M entries."""
    square = tf.square(tf.cast(features, tf.float32) - tf.cast(target, tf.float32))
    if mean:
        return tf.reduce_mean(square, axis=[1, 2, 3])
    return 0.5 * tf.reduce_sum(square, axis=[1, 2, 3])


@tf.custom_gradient
def gram_matrix(features: tf.Tensor):
    """Gram matrix, Eq. 3: G_ij = sum_k F_ik F_jk over the M = H*W positions; ``[batch, N, N]``,
    float32, not normalised (:func:`style_layer_loss` applies the 1/(4 N^2 M^2) of Eq. 4).

    G = F^T F, with the gradient F (dG + dG^T): one [M, N] x [N, N] product instead of the
    generic matmul gradient's two. With a bfloat16 network that product runs in bfloat16 with
    float32 accumulation (the precision the gradient flows back through the network in anyway);
    float16's narrow range keeps it in float32."""
    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], shape[1] * shape[2], shape[3]])  # [B, M, N]
    wide = tf.cast(flat, tf.float32)
    product_dtype = tf.bfloat16 if flat.dtype == tf.bfloat16 else tf.float32

    def grad(d_gram: tf.Tensor) -> tf.Tensor:
        symmetric = tf.cast(d_gram + tf.transpose(d_gram, [0, 2, 1]), product_dtype)
        narrow = flat if product_dtype == flat.dtype else wide
        return tf.reshape(tf.cast(tf.matmul(narrow, symmetric), flat.dtype), shape)

    return tf.matmul(wide, wide, transpose_a=True), grad


def style_layer_loss(gram: tf.Tensor, target_gram: tf.Tensor, num_positions: tf.Tensor,
                     mean: bool = False) -> tf.Tensor:
    """One layer's style loss, Eq. 4: E_l = sum_ij (G_ij - A_ij)^2 / (4 N^2 M^2), per image; with
    ``mean``, the mean of (G_ij / M - A_ij / M)^2 over the N^2 entries (= 4 E_l). M
    (``num_positions``) is the *generated* image's H*W: ``target_gram`` must be normalised to it
    (A / M_style * M: G grows linearly with M) when the style image has another size."""
    n = tf.cast(tf.shape(gram)[-1], tf.float32)
    m = tf.cast(num_positions, tf.float32)
    sq = tf.reduce_sum(tf.square(gram - tf.cast(target_gram, tf.float32)), axis=[1, 2])
    return sq / ((1.0 if mean else 4.0) * tf.square(n) * tf.square(m))


def blended_style_layer_loss(features: tf.Tensor, per_position: tf.Tensor, blend: tf.Tensor,
                             mean: bool = False) -> tf.Tensor:
    """Style loss of one layer against the blended Gram matrix sum_s b_s A_s, per image.

    ``per_position`` ``[S, B, N, N]``: each style's A_s divided by its number of positions;
    ``blend`` ``[S]``: the b_s, summing to 1 (as jcjohnson/neural-style blends). Then
    sum_s b_s E_l(G, A_s) = E_l(G, sum_s b_s A_s) + const, so this has the gradient of the weighted
    sum of per-style losses at the cost of one.
    """
    shape = tf.shape(features)
    positions = shape[1] * shape[2]
    target = tf.einsum("s,sbij->bij", tf.cast(blend, tf.float32), per_position)
    return style_layer_loss(gram_matrix(features), target * tf.cast(positions, tf.float32),
                            positions, mean)


def guided_style_layer_loss(features: tf.Tensor, per_position: tf.Tensor, blend: tf.Tensor,
                            masks: tf.Tensor, mean: bool = False) -> tf.Tensor:
    """Spatially guided style loss of one layer (Gatys et al. 2017, Sec. 4), per image.

    ``masks`` ``[S, B, H, W, 1]``: the guidance channels T_s at this layer's resolution. Region s
    is matched to style s through G_s = (F * T_s)^T (F * T_s) against style s's Gram matrix
    rescaled to M_s = sum T_s^2, normalised by M_s and weighted by its share M_s / M, so it is
    stylised as strongly as a whole image alone; ``blend`` scales region s by S * b_s.
    """
    features = tf.cast(features, tf.float32)
    shape = tf.shape(features)
    m_total = tf.cast(shape[1] * shape[2], tf.float32)
    num_styles = masks.shape[0]
    total = tf.zeros([shape[0]])
    for s in range(num_styles):
        mask = tf.cast(masks[s], tf.float32)
        gram = gram_matrix(features * mask)
        m_s = tf.reduce_sum(tf.square(mask), axis=[1, 2, 3])  # [B]
        target = per_position[s] * m_s[:, None, None]
        region = style_layer_loss(gram, target, tf.maximum(m_s, 1e-6), mean) * (m_s / m_total)
        total += num_styles * tf.cast(blend[s], tf.float32) * region
    return total


def total_variation_loss(image: tf.Tensor, mean: bool = False) -> tf.Tensor:
    """Squared total variation of 0-255 pixels, per image: TV(x) = sum_ij (x_{i,j+1} - x_ij)^2
    + (x_{i+1,j} - x_ij)^2 (Mahendran & Vedaldi 2015, beta = 2); with ``mean``, divided by H W."""
    image = tf.cast(image, tf.float32) * 255.0
    # tf.slice rather than strided indexing: its gradient is a Pad, which TFLite has as a builtin
    # (StridedSliceGrad is not), so the exported on-device optimisation stays builtin-only.
    shape = tf.shape(image)
    dy = tf.slice(image, [0, 1, 0, 0], [-1, -1, -1, -1]) - tf.slice(
        image, [0, 0, 0, 0], tf.stack([-1, shape[1] - 1, -1, -1]))
    dx = tf.slice(image, [0, 0, 1, 0], [-1, -1, -1, -1]) - tf.slice(
        image, [0, 0, 0, 0], tf.stack([-1, -1, shape[2] - 1, -1]))
    tv = tf.reduce_sum(tf.square(dy), axis=[1, 2, 3]) + tf.reduce_sum(tf.square(dx), axis=[1, 2, 3])
    return tv / tf.cast(shape[1] * shape[2], tf.float32) if mean else tv


def total_loss(terms: Mapping[str, tf.Tensor], content_weight, style_weight, tv_weight
               ) -> tf.Tensor:
    """Eq. 7 plus smoothing: L = alpha L_content + beta L_style + tv_weight TV, per image."""
    return (content_weight * terms["content"] + style_weight * terms["style"]
            + tv_weight * terms["tv"])
