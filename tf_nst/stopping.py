"""When a run is done: the stopping rule of ``--stop_tolerance``.

A run stops at step k, before ``--num_steps``, once its total loss L has stopped falling::

    fall(k) = (L[k - W] - L[k]) / |L[k]|          stop at the first k with  fall(k) < T

with T = ``--stop_tolerance`` and W = :data:`WINDOW` steps (the window), L[k] the total loss that
step k reports (k = 1 is the first step of the optimiser's start). Nothing stops before W + 1
steps, when L[k - W] first exists. With a style-weight continuation (``--style_ramp_steps`` = K >
0) the loss rises while beta ramps up, so only steps with k - W > K are judged: the whole window
lies where the objective no longer changes. T = 0 never stops (``--num_steps`` steps are run).

The rule is pure NumPy and judges every image of a batch alone: :meth:`StoppingRule.update` takes
the B per-image totals of one step and returns which images have converged (once converged, an
image stays so). Its state is two small arrays, :attr:`StoppingRule.history` (the last W + 1
steps' totals) and :attr:`StoppingRule.stopped_at`, which a checkpoint saves and
:meth:`StoppingRule.restore` puts back, so a resumed run stops at the step an uninterrupted one
stops at.

>>> rule = StoppingRule.from_config(config)
>>> for k in range(1, config.num_steps + 1):
...     totals = ...                               # [B] total loss of step k, per image
...     if rule.update(k, totals).all():
...         print(rule.reason); break
"""

from __future__ import annotations

import numpy as np

# W: steps over which the relative fall of the loss is measured (see docs/performance.md, "When a
# run stops", for the measurements that chose it and the default tolerance).
WINDOW = 20


class StoppingRule:
    """Stops each image once ``(L[k - W] - L[k]) / |L[k]| < tolerance`` (module docstring).

    ``tolerance`` >= 0 (0 = never stop), ``window`` = W >= 1 steps, ``ramp_steps`` = K >= 0: the
    style-weight continuation's length, during which (and for W steps after it) nothing stops.
    """

    def __init__(self, tolerance: float, window: int = WINDOW, ramp_steps: int = 0) -> None:
        if not 0.0 <= tolerance < float("inf"):
            raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")
        if int(window) != window or window < 1:
            raise ValueError(f"window must be an integer >= 1, got {window}")
        if int(ramp_steps) != ramp_steps or ramp_steps < 0:
            raise ValueError(f"ramp_steps must be an integer >= 0, got {ramp_steps}")
        self.tolerance = float(tolerance)
        self.window = int(window)
        self.ramp_steps = int(ramp_steps)
        self.reset()

    @classmethod
    def from_config(cls, config) -> "StoppingRule":
        """The rule of a :class:`~tf_nst.config.Config`: its ``stop_tolerance`` and
        ``style_ramp_steps``, the window :data:`WINDOW`."""
        return cls(config.stop_tolerance, WINDOW, config.style_ramp_steps)

    def reset(self) -> None:
        """Forget every step (a new optimiser start: the next step fed is its step 1)."""
        self._steps: list[int] = []
        self._totals: list[np.ndarray] = []
        self._stopped_at: np.ndarray | None = None
        self.last_fall: np.ndarray | None = None  # fall(k) of the last step judged, per image

    @property
    def enabled(self) -> bool:
        """False for tolerance 0: the rule never stops a run."""
        return self.tolerance > 0

    @property
    def history(self) -> np.ndarray:
        """The last W + 1 steps fed, ``[n, 1 + B]`` float64: column 0 the step k, then the B
        totals of that step (``[0, 1]`` before any step)."""
        if not self._steps:
            return np.zeros((0, 1), np.float64)
        return np.column_stack([np.asarray(self._steps, np.float64),
                                np.stack(self._totals).astype(np.float64)])

    @property
    def stopped_at(self) -> np.ndarray:
        """``[B]`` int64: the step at which each image converged, 0 while it has not."""
        return (np.zeros(0, np.int64) if self._stopped_at is None
                else self._stopped_at.copy())

    def restore(self, history: np.ndarray, stopped_at: np.ndarray) -> None:
        """Put back the state saved from :attr:`history` and :attr:`stopped_at`."""
        history = np.asarray(history, np.float64)
        stopped_at = np.asarray(stopped_at, np.int64).reshape(-1)
        self.reset()
        if history.ndim != 2 or (len(history) and history.shape[1] != 1 + len(stopped_at)):
            raise ValueError(f"history of shape {history.shape} does not match "
                             f"{len(stopped_at)} images")
        self._steps = [int(k) for k in history[:, 0]]
        self._totals = [row.copy() for row in history[:, 1:]]
        self._stopped_at = stopped_at.copy() if len(history) or len(stopped_at) else None

    def update(self, step: int, totals) -> np.ndarray:
        """Feed the ``[B]`` total losses of step ``step`` (consecutive steps, the first one 1 or
        any step after a :meth:`restore`); return ``[B]`` bool, which images have converged."""
        totals = np.atleast_1d(np.asarray(totals, np.float64))
        if self._steps and step != self._steps[-1] + 1:
            raise ValueError(f"step {step} does not follow step {self._steps[-1]}")
        if self._stopped_at is None:
            self._stopped_at = np.zeros(totals.shape, np.int64)
        if totals.shape != self._stopped_at.shape:
            raise ValueError(f"{totals.shape[0]} totals for {self._stopped_at.shape[0]} images")
        self._steps.append(int(step))
        self._totals.append(totals)
        del self._steps[:-(self.window + 1)], self._totals[:-(self.window + 1)]
        if self._judged(step):
            before = self._totals[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                self.last_fall = (before - totals) / np.abs(totals)
            done = self.enabled & (self.last_fall < self.tolerance) & (self._stopped_at == 0)
            self._stopped_at[done] = step
        return self._stopped_at > 0

    def _judged(self, step: int) -> bool:
        """Whether step k is judged: L[k - W] is held and k - W is past the ramp (k - W > K)."""
        return (len(self._steps) == self.window + 1 and self._steps[0] == step - self.window
                and step - self.window > self.ramp_steps)

    @property
    def converged(self) -> np.ndarray:
        """``[B]`` bool: which images have converged so far."""
        return self.stopped_at > 0

    @property
    def reason(self) -> str:
        """One line saying why a run stops: the rule in words."""
        return (f"the loss fell by less than {100 * self.tolerance:.3g}% over the last "
                f"{self.window} steps")
