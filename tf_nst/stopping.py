"""When a run is done: the stopping rule of ``--stop_tolerance``.

A run stops at step k, before ``--num_steps``, once its total loss L has stopped falling::

    fall(k) = (L[k - W] - L[k]) / |L[k]|          stop at the first k with  fall(k) < T

with T = ``--stop_tolerance``, W = :data:`WINDOW` steps and k = 1 the optimiser's first step.
Nothing stops before L[k - W] exists. With a style-weight ramp of K = ``--style_ramp_steps``
steps only k - W > K is judged, so the window lies where beta no longer changes. T = 0 never
stops. Each image of a batch is judged alone, and stays converged once it is.

:func:`judge` is written in TensorFlow ops on a small :class:`RuleState`, so the library (eagerly,
each step) and the exported graphs (in their while-loops) judge alike, and a checkpoint saves the
state as it is.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

# W: see docs/performance.md, "When a run stops", for the measurements behind it and the default
# tolerance.
WINDOW = 20


class RuleState(NamedTuple):
    """The rule's state for B images: the totals of the last W + 1 steps (step k's at row
    k mod (W + 1)), the number k of steps fed, and the step each image converged at (0: not
    yet)."""

    history: tf.Tensor     # [W + 1, B] float32
    step: tf.Tensor        # [] int32
    stopped_at: tf.Tensor  # [B] int32


def start(batch: int, window: int = WINDOW) -> RuleState:
    """The state before the first step."""
    return RuleState(tf.zeros([window + 1, batch]), tf.constant(0), tf.zeros([batch], tf.int32))


def judge(state: RuleState, totals, tolerance: float, ramp_steps: int = 0,
          window: int = WINDOW) -> RuleState:
    """Feed the ``[B]`` total losses of step k = ``state.step + 1``; the images whose fall(k) is
    below ``tolerance`` converge at k."""
    history, k, stopped_at = state
    k, totals = k + 1, tf.cast(totals, history.dtype)
    history = tf.tensor_scatter_nd_update(history, [[k % (window + 1)]], totals[None])
    before = tf.gather(history, (k + 1) % (window + 1))  # L[k - W], held once k > W
    fall = (before - totals) / tf.abs(totals)
    newly = (k - window > ramp_steps) & (fall < tolerance) & tf.equal(stopped_at, 0)
    if tolerance <= 0:  # never stops, even where the loss rises
        newly = tf.zeros_like(newly)
    return RuleState(history, k, tf.where(newly, k, stopped_at))


def reason(tolerance: float, window: int = WINDOW) -> str:
    """One line saying why a run stopped: the rule in words."""
    return f"the loss fell by less than {100 * tolerance:.3g}% over the last {window} steps"
