"""VGG19 features whose gradient is made of TFLite builtin operators only.

TFLite has no ``ReluGrad``, ``MaxPoolGrad`` or ``AvgPoolGrad``, so the Keras model's gradient
cannot run on the stock interpreters. :class:`BuiltinFeatureExtractor` computes the same feature
maps with the same weights (those of a :class:`~tf_nst.features.FeatureExtractor`, so they are
stored once), but

* the ReLU's gradient is written as ``dy * (y > 0)`` (a ``tf.custom_gradient``; TF's ``ReluGrad``
  computes the same thing),
* 2x2 stride-2 pooling is two reshapes and reductions over pairs (``reduce_max``/``reduce_mean``),
  whose gradients are equality masks and broadcasts.

It is used only for the TFLite export; the default path (:func:`tf_nst.features.conv3x3_relu`)
uses TensorFlow's ReluGrad and MaxPoolGrad kernels. :func:`resize` is the library's resizing as
matrix products, for the same reason (TFLite has no ``ScaleAndTranslate``).
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tf_nst.features import FeatureExtractor, caffe_preprocess, layer_plan


def conv3x3_relu(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, one: tf.Tensor) -> tf.Tensor:
    """relu(conv(x, kernel) + bias), 'SAME' padding, stride 1, differentiable w.r.t. ``x`` only.

    The input gradient of a stride-1 'SAME' convolution with an odd kernel is the convolution of
    ``dy`` with the kernel flipped in space and with its channel axes swapped. TF's own gradient
    (Conv2DBackpropInput -> TRANSPOSE_CONV) makes the converter store a second, transposed copy of
    every kernel; computing the flipped kernel at run time (times ``one``, a 1.0 the converter
    cannot fold) keeps one copy of the weights in the file.
    """

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)

        def grad(dy):
            dz = dy * tf.cast(y > 0.0, dy.dtype)
            flipped = tf.transpose(tf.reverse(kernel * one, [0, 1]), [0, 1, 3, 2])
            return tf.nn.conv2d(dz, flipped, 1, "SAME")

        return y, grad

    return forward(x)


def pool2x2(x: tf.Tensor, kind: str = "max") -> tf.Tensor:
    """2x2 pooling with stride 2 and 'valid' padding (odd last rows/columns dropped, as VGG's).

    Pairs of rows, then pairs of columns, are reduced in rank-3 tensors; the gradient of the
    max is the equality mask (ties, which occur only between zeros that the ReLU's gradient
    discards, share it), that of the mean a broadcast.
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

    def __init__(self, extractor: FeatureExtractor, weights: list | None = None) -> None:
        """``weights`` (default: the extractor's variables) replace the kernels and biases, in the
        order of ``extractor.variables``."""
        self.layer_names = extractor.layer_names
        self.compute_dtype = tf.float32
        self._plan = layer_plan(extractor.model)
        if weights is not None:
            replace = {id(v): w for v, w in zip(extractor.variables, weights)}
            self._plan = [(n, k, replace[id(a)] if a is not None else None,
                           replace[id(b)] if b is not None else None)
                          for n, k, a, b in self._plan]

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
    """``[target, source]``: :func:`tf_nst.images.resize_image`'s filter (bicubic, antialiased) along
    one axis as a matrix, the identity resized along that axis (the resize is separable and linear
    before its clip to [0, 1]; tests/test_export_tflite.py holds the two equal)."""
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
