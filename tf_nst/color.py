"""Colour control of Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017, "Controlling Perceptual
Factors in Neural Style Transfer" (CVPR 2017), Sec. 5, as pure TensorFlow functions. Images are
RGB float32 in [0, 1], ``[H, W, 3]`` or ``[B, H, W, 3]``; luminance and chroma are YIQ, the
colour space the paper uses.
"""

from __future__ import annotations

import tensorflow as tf

from tf_nst import images

_EPS = 1e-5        # floor of a standard deviation
_EIG_EPS = 1e-10   # floor of a covariance eigenvalue (variances of [0, 1] pixels are < 0.25)


def luminance(image: tf.Tensor) -> tf.Tensor:
    """The Y channel of YIQ, keeping a channel axis: ``[..., 1]``."""
    return tf.image.rgb_to_yiq(tf.convert_to_tensor(image, tf.float32))[..., :1]


def original_colors(stylised: tf.Tensor, content: tf.Tensor) -> tf.Tensor:
    """Keep the content's colours (Sec. 5.1, post-hoc variant): the luminance Y of ``stylised``
    with the chroma I, Q of ``content`` (resized to ``stylised``'s size unless both sizes are
    known and equal), clipped to [0, 1]."""
    stylised = tf.convert_to_tensor(stylised, tf.float32)
    content = tf.convert_to_tensor(content, tf.float32)
    if content.shape.rank == 3:
        content = content[None]
    batched = stylised.shape.rank == 4
    target = stylised if batched else stylised[None]
    if not (target.shape[1:3].is_fully_defined() and target.shape[1:3] == content.shape[1:3]):
        content = images.resize_image(content, tf.shape(target)[1:3])
    combined = tf.concat([luminance(target), tf.image.rgb_to_yiq(content)[..., 1:]], axis=-1)
    out = tf.clip_by_value(tf.image.yiq_to_rgb(combined), 0.0, 1.0)
    return out if batched else out[0]


def _moments(pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean ``[C]`` and covariance ``[C, C]`` of ``[P, C]`` pixels."""
    mean = tf.reduce_mean(pixels, axis=0)
    centred = pixels - mean
    cov = tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(pixels)[0], pixels.dtype)
    return mean, cov


def _sqrtm(matrix: tf.Tensor, inverse: bool = False) -> tf.Tensor:
    """Symmetric (inverse) square root of a symmetric positive semi-definite matrix."""
    values, vectors = tf.linalg.eigh(matrix)
    values = tf.maximum(values, _EIG_EPS)
    values = tf.math.rsqrt(values) if inverse else tf.sqrt(values)
    return tf.matmul(vectors * values[None, :], vectors, transpose_b=True)


def match_color_histogram(style: tf.Tensor, content: tf.Tensor) -> tf.Tensor:
    """Colour histogram matching (Sec. 5.2): x' = A x + b on every style pixel so that the style's
    RGB mean and covariance become the content's, with A = Sigma_C^1/2 Sigma_S^-1/2 (the
    symmetric "Image Analogies" choice) and b = mu_C - A mu_S. Clipped to [0, 1]."""
    style = tf.convert_to_tensor(style, tf.float32)
    content = tf.convert_to_tensor(content, tf.float32)
    s_pixels = tf.reshape(tf.cast(style, tf.float64), [-1, 3])  # float64: tiny variances
    mu_s, cov_s = _moments(s_pixels)
    mu_c, cov_c = _moments(tf.reshape(tf.cast(content, tf.float64), [-1, 3]))
    a = tf.matmul(_sqrtm(cov_c), _sqrtm(cov_s, inverse=True))
    out = tf.cast(tf.matmul(s_pixels - mu_s, a, transpose_b=True) + mu_c, tf.float32)
    return tf.clip_by_value(tf.reshape(out, tf.shape(style)), 0.0, 1.0)


def match_luminance(style: tf.Tensor, content: tf.Tensor) -> tf.Tensor:
    """Luminance matching (Sec. 5.1): the style's luminance is shifted and scaled so that its mean
    and standard deviation are the content's, Y' = sigma_C / sigma_S (Y_S - mu_S) + mu_C; the
    style's chroma is kept. Clipped to [0, 1]."""
    yiq = tf.image.rgb_to_yiq(tf.convert_to_tensor(style, tf.float32))
    y_s = yiq[..., 0]
    y_c = luminance(content)[..., 0]
    mu_s, sd_s = tf.reduce_mean(y_s), tf.math.reduce_std(y_s)
    mu_c, sd_c = tf.reduce_mean(y_c), tf.math.reduce_std(y_c)
    y = (y_s - mu_s) * (sd_c / tf.maximum(sd_s, _EPS)) + mu_c
    out = tf.image.yiq_to_rgb(tf.concat([y[..., None], yiq[..., 1:]], axis=-1))
    return tf.clip_by_value(out, 0.0, 1.0)


def match_color(style: tf.Tensor, content: tf.Tensor, mode: str) -> tf.Tensor:
    """``--color_transfer``: 'none' (``style`` unchanged), 'histogram' or 'luminance'."""
    if mode == "none":
        return tf.convert_to_tensor(style, tf.float32)
    if mode == "histogram":
        return match_color_histogram(style, content)
    if mode == "luminance":
        return match_luminance(style, content)
    raise ValueError(f"unknown colour transfer {mode!r}")
