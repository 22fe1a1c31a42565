"""TensorBoard logging of a style transfer (``tf-nst --logdir=DIR``; ``tensorboard --logdir DIR``).

Scalars: every loss term (``total``, ``content``, ``style``, ``tv`` and per layer
``content/conv4_2``, ``style/conv1_1`` ...) at every step; images: the current result under
``image`` when asked. Written with the core ``tf.summary.write`` and the metadata of TensorBoard's
plugins, so logging needs no ``tensorboard`` package (``tf.summary.scalar`` does); viewing does.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import tensorflow as tf

from tf_nst import images


def _metadata(plugin: str) -> tf.compat.v1.SummaryMetadata:
    return tf.compat.v1.SummaryMetadata(plugin_data={"plugin_name": plugin})


class LogdirError(ValueError):
    """The log folder cannot be written; ``str(err)`` is one line naming it."""


class SummaryLogger:
    """Writes TensorBoard event files into ``logdir`` (created if missing)."""

    def __init__(self, logdir: str | os.PathLike) -> None:
        self.logdir = os.fspath(logdir)
        try:
            os.makedirs(self.logdir, exist_ok=True)
            if not os.access(self.logdir, os.W_OK):
                raise PermissionError("not writable")
            self._writer = tf.summary.create_file_writer(self.logdir)
        except (OSError, tf.errors.OpError) as err:
            reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
            raise LogdirError(f"--logdir={self.logdir}: cannot write there: {reason}") from None

    def scalars(self, step: int, losses: Mapping[str, float]) -> None:
        with self._writer.as_default():
            for name, value in losses.items():
                tf.summary.write(name, tf.constant(float(value), tf.float32), step=step,
                                 metadata=_metadata("scalars"))

    def image(self, step: int, image: np.ndarray) -> None:
        """An ``H x W x 3`` float image in [0, 1] (the image plugin's [width, height, PNG])."""
        pixels = images.to_uint8(image)
        height, width = pixels.shape[:2]
        png = tf.io.encode_png(tf.constant(pixels))
        tensor = tf.stack([tf.constant(str(width)), tf.constant(str(height)), png])
        with self._writer.as_default():
            tf.summary.write("image", tensor, step=step, metadata=_metadata("images"))

    def close(self) -> None:
        self._writer.close()
