"""VGG19 features whose gradient is made of TFLite builtin operators only, for the TFLite export.

TFLite has no ``ReluGrad``, ``MaxPoolGrad`` or ``AvgPoolGrad``, so the Keras model's gradient
cannot run on the stock interpreters. :class:`BuiltinFeatureExtractor` computes the same feature
maps with the same weights, stored once, but writes the ReLU's gradient as ``dy * (y > 0)`` and
2x2 pooling as reductions over pairs (gradients: equality masks and broadcasts). :func:`resize`
is the library's resizing as matrix products, as TFLite has no ``ScaleAndTranslate`` either.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tf_nst.features import FeatureExtractor, caffe_preprocess, input_gradient_kernel, layer_plan


def conv3x3_relu(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, one: tf.Tensor) -> tf.Tensor:
    """relu(conv(x, kernel) + bias), 'SAME' padding, stride 1, differentiable w.r.t. ``x`` only.

    The input gradient is :func:`tf_nst.features.conv3x3_relu`'s, with the ReLU's written as
    ``dy * (y > 0)`` and the flipped kernel made at run time from ``kernel * one`` (a 1.0 the
    converter cannot fold): TF's own gradient (TRANSPOSE_CONV) makes the converter store a
    transposed copy of every kernel.
    """

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)

        def grad(dy):
            dz = dy * tf.cast(y > 0.0, dy.dtype)
            return tf.nn.conv2d(dz, input_gradient_kernel(kernel * one), 1, "SAME")

        return y, grad

    return forward(x)


def pool2x2(x: tf.Tensor, kind: str = "max") -> tf.Tensor:
    """2x2 pooling with stride 2 and 'valid' padding (odd last rows/columns dropped, as VGG's),
    as reductions over pairs of rows, then of columns. The max's gradient is the equality mask
    (ties occur only between zeros, which the ReLU's gradient discards), the mean's a broadcast.
    """
    reduce = tf.reduce_max if kind == "max" else tf.reduce_mean
    shape = tf.shape(x)
    b, h2, w2, c = shape[0], shape[1] // 2, shape[2] // 2, shape[3]
    x = tf.slice(x, [0, 0, 0, 0], tf.stack([-1, 2 * h2, 2 * w2, -1]))  # gradient: Pad
    rows = reduce(tf.reshape(x, tf.stack([b * h2, 2, 2 * w2 * c])), axis=1)
    cols = reduce(tf.reshape(rows, tf.stack([b * h2 * w2, 2, c])), axis=1)
    return tf.reshape(cols, tf.stack([b, h2, w2, c]))


class BuiltinFeatureExtractor:
    """The feature maps of a :class:`FeatureExtractor` (same weights, same outputs), computed with
    ops whose gradients TFLite has as builtins. float32 only."""

    def __init__(self, extractor: FeatureExtractor, weights: list) -> None:
        """``weights`` replace the kernels and biases, in the order of ``extractor.variables``."""
        self.layer_names = extractor.layer_names
        self.compute_dtype = tf.float32
        replace = {id(v): w for v, w in zip(extractor.variables, weights)}
        self._plan = [(n, k, replace.get(id(a)), replace.get(id(b)))
                      for n, k, a, b in layer_plan(extractor.model)]

    def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        x = caffe_preprocess(images)
        # Exactly 1.0, but not a constant the converter could fold (see conv3x3_relu).
        one = 1.0 + 0.0 * tf.reduce_min(tf.clip_by_value(images, 0.0, 1.0))
        out = {}
        for name, kind, kernel, bias in self._plan:
            if kind == "conv":
                x = conv3x3_relu(x, tf.convert_to_tensor(kernel, tf.float32),
                                 tf.convert_to_tensor(bias, tf.float32), one)
            else:
                x = pool2x2(x, kind)
            if name in self.layer_names:
                out[name] = x
        return out


def resize_matrix(source: int, target: int) -> tf.Tensor:
    """``[target, source]``: :func:`tf_nst.images.resize_image`'s filter along one axis as a
    matrix, the identity resized along that axis (the resize is separable and linear before its
    clip to [0, 1]; tests/test_export_tflite.py holds the two equal)."""
    eye = tf.eye(source)[None, :, :, None]
    return tf.image.resize(eye, (target, source), method="bicubic", antialias=True)[0, :, :, 0]


def resize(image: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
    """:func:`tf_nst.images.resize_image` of a ``[B, H, W, C]`` image of static size to ``size``,
    as two matrix products (builtins) with constant matrices; the image itself if its size."""
    height, width = image.shape[1], image.shape[2]
    if (height, width) == tuple(size):
        return image
    rows, columns = resize_matrix(height, size[0]), resize_matrix(width, size[1])
    x = tf.matmul(tf.transpose(image, [0, 2, 3, 1]), rows, transpose_b=True)  # [B, W, C, h]
    x = tf.matmul(tf.transpose(x, [0, 3, 2, 1]), columns, transpose_b=True)  # [B, h, C, w]
    return tf.clip_by_value(tf.transpose(x, [0, 1, 3, 2]), 0.0, 1.0)
