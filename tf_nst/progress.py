"""A one-line progress bar with the current losses and steps per second (stderr)."""

from __future__ import annotations

import sys
import time
from typing import Mapping


def format_losses(losses: Mapping[str, float], per_layer: bool = False) -> str:
    keys = [k for k in ("total", "content", "style", "tv") if k in losses]
    if per_layer:
        keys += sorted(k for k in losses if "/" in k)
    return " ".join(f"{k}={losses[k]:.4g}" for k in keys)


class Progress:
    """Redraws one line on a terminal; prints a line every ``every`` steps otherwise."""

    def __init__(self, total: int, every: int = 50, label: str = "") -> None:
        self.total = max(total, 1)
        self.label = label + " | " if label else ""  # e.g. "batch 2/3"
        self.stream = sys.stderr
        self.every = max(every, 1)
        self.width = 24  # characters of the bar
        self.start = time.perf_counter()
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, step: int, losses: Mapping[str, float]) -> None:
        elapsed = time.perf_counter() - self.start
        rate = step / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        done = int(self.width * step / self.total)
        bar = "#" * done + "." * (self.width - done)
        line = (f"{self.label}step {step}/{self.total} [{bar}] {format_losses(losses)} "
                f"{rate:.2f} steps/s eta {eta:.0f}s")
        if self.interactive:
            self.stream.write("\r" + line + "\x1b[K")
            if step >= self.total:
                self.stream.write("\n")
        elif step % self.every == 0 or step >= self.total:
            self.stream.write(line + "\n")
        self.stream.flush()
