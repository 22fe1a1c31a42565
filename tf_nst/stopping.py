"""When a run is done: the stopping rule of ``--stop_tolerance``.

A run stops at step k, before ``--num_steps``, once its total loss L has stopped falling::

    fall(k) = (L[k - W] - L[k]) / |L[k]|          stop at the first k with  fall(k) < T

with T = ``--stop_tolerance``, W = :data:`WINDOW` steps and k = 1 the optimiser's first step.
Nothing stops before L[k - W] exists. With a style-weight ramp of K = ``--style_ramp_steps``
steps only k - W > K is judged, so the window lies where beta no longer changes. T = 0 never
stops. Each image of a batch is judged alone, and stays converged once it is.

:func:`judge` is written in TensorFlow ops on a small :class:`RuleState`, so the library (through
:class:`StoppingRule`) and the exported graphs (in their while-loops) judge alike, and a
checkpoint saves the state as it is.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
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


def judge(state: RuleState, totals: tf.Tensor, tolerance: float, ramp_steps: int = 0,
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


class StoppingRule:
    """:func:`judge` fed on the host, one step's ``[batch]`` totals at a time.

    ``tolerance`` >= 0 (0 = never stop), ``window`` = W >= 1 steps, ``ramp_steps`` = K >= 0.
    """

    def __init__(self, tolerance: float, window: int = WINDOW, ramp_steps: int = 0,
                 batch: int = 1) -> None:
        if not 0.0 <= tolerance < float("inf"):
            raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")
        if int(window) != window or window < 1:
            raise ValueError(f"window must be an integer >= 1, got {window}")
        if int(ramp_steps) != ramp_steps or ramp_steps < 0:
            raise ValueError(f"ramp_steps must be an integer >= 0, got {ramp_steps}")
        self.tolerance, self.window, self.ramp_steps = float(tolerance), int(window), ramp_steps
        self.batch = batch
        self.reset()

    @classmethod
    def from_config(cls, config, batch: int = 1) -> "StoppingRule":
        """The rule of a :class:`~tf_nst.config.Config`: its ``stop_tolerance`` and
        ``style_ramp_steps``, the window :data:`WINDOW`."""
        return cls(config.stop_tolerance, WINDOW, config.style_ramp_steps, batch)

    def reset(self) -> None:
        """Forget every step (a new optimiser start: the next step fed is its step 1)."""
        self.state = start(self.batch, self.window)

    @property
    def enabled(self) -> bool:
        """False for tolerance 0: the rule never stops a run."""
        return self.tolerance > 0

    def update(self, totals) -> np.ndarray:
        """Feed the next step's ``[batch]`` totals; return ``[batch]`` bool, which images have
        converged."""
        totals = np.atleast_1d(np.asarray(totals, np.float32))
        if totals.shape != (self.batch,):
            raise ValueError(f"{totals.size} totals for {self.batch} images")
        self.state = judge(self.state, totals, self.tolerance, self.ramp_steps, self.window)
        return self.converged

    @property
    def stopped_at(self) -> np.ndarray:
        """``[batch]``: the step at which each image converged, 0 while it has not."""
        return self.state.stopped_at.numpy()

    @property
    def converged(self) -> np.ndarray:
        """``[batch]`` bool: which images have converged so far."""
        return self.stopped_at > 0

    @property
    def reason(self) -> str:
        """One line saying why a run stops: the rule in words."""
        return (f"the loss fell by less than {100 * self.tolerance:.3g}% over the last "
                f"{self.window} steps")
