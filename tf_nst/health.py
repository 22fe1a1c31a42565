"""Numerical health of a run: stop on NaN or Inf with a message that names the likely cause.

A non-finite value never heals by itself (Adam carries a NaN gradient into every later image;
L-BFGS's step length becomes NaN), so stopping at the first one keeps the last good image. Every
mode checks each step the same way: its step made by :func:`with_finite_flag`, its result passed
to :func:`check`.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import numpy as np
import tensorflow as tf

from tf_nst.config import Config


class NumericalError(FloatingPointError):
    """The loss or the image became NaN or Inf at ``step``; ``str(err)`` is one line naming the
    likely cause. The :class:`~tf_nst.transfer.StyleTransfer` that raised it still holds the state
    before that step (the last good image)."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


def all_finite(image: tf.Tensor, loss: tf.Tensor) -> tf.Tensor:
    """A scalar bool: every pixel of ``image`` and every value of ``loss`` is finite (cheap next
    to one VGG evaluation: meant to run inside the step's ``tf.function``)."""
    return tf.logical_and(tf.reduce_all(tf.math.is_finite(image)),
                          tf.reduce_all(tf.math.is_finite(tf.cast(loss, tf.float32))))


def with_finite_flag(step: Callable, optimizer) -> Callable:
    """``step(state, targets, weights) -> (state, terms)`` that also returns whether the new
    image and the loss are all finite (one bool for the whole batch)."""

    def checked_step(state, targets, weights):
        state, terms = step(state, targets, weights)
        return state, terms, all_finite(optimizer.image(state), terms["total"])

    return checked_step


def check(finite, terms: Mapping[str, tf.Tensor], config: Config, step: int) -> None:
    """:class:`NumericalError` at ``step`` unless ``finite`` (the flag of a
    :func:`with_finite_flag` step, whose loss ``terms`` are per image) is true."""
    if not bool(finite):
        losses = {k: _worst(v) for k, v in terms.items()}
        raise NumericalError(describe(config, step, losses), step)


def _worst(values: tf.Tensor) -> float:
    """The first value of a batch that is not finite, else its first value."""
    array = np.atleast_1d(np.asarray(values, np.float64))
    bad = array[~np.isfinite(array)]
    return float(bad[0] if bad.size else array[0])


def likely_cause(config: Config) -> str:
    """What to change, in the order of likelihood for this configuration."""
    hints = []
    if config.compute_precision == "mixed_float16":
        hints.append("float16 overflows easily on VGG's large activations: use "
                     "--precision=mixed_bfloat16 or float32")
    lr = config.learning_rate
    if config.optimizer == "adam":
        hints.append(f"the step size is probably too large: lower --learning_rate={lr:g} "
                     "(pixels are in [0, 1]; 0.02 is the default)")
    else:
        hints.append(f"lower --learning_rate={lr:g} (L-BFGS's first step) or try --optimizer=adam")
    if config.style_weight > 1e8 or config.content_weight > 1e8:
        hints.append("the loss weights are huge: lower --style_weight/--content_weight")
    return "; ".join(hints)


def describe(config: Config, step: int, losses: Mapping[str, float]) -> str:
    """The one-line message of a :class:`NumericalError` at ``step``."""
    bad = [k for k in ("total", "content", "style", "tv")
           if k in losses and not math.isfinite(losses[k])]
    what = "the " + "/".join(bad) + " loss" if bad else "the loss or the image"
    return (f"{what} became NaN or Inf at step {step} ({config.optimizer}, "
            f"learning_rate={config.learning_rate:g}, precision={config.compute_precision}); "
            f"{likely_cause(config)}")
