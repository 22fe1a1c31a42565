"""How long a run will take, said before its first step.

A step's time is its FLOPs (:mod:`tf_nst.flops`: of the whole image, or of every tile at a tiled
scale, where one step of the scale is one step of each tile) divided by this machine's rate,
measured by timing a few real steps at a small size (:func:`measure_rate`). Each scale adds a
start cost (tracing the step at its shape, its targets). Use and accuracy: docs/large-images.md,
"Its time".
"""

from __future__ import annotations

import math
import timeit
from typing import NamedTuple

from tf_nst import flops

# Seconds each scale (and each tile shape) costs once: tracing the step at its shape, besides its
# targets, counted as two steps' time.
TRACE_SECONDS = 2.0
TARGET_STEPS = 2


class Stage(NamedTuple):
    """One scale of a run: its size, steps, tiles and the FLOPs of one step (of every tile)."""

    side: int
    height: int
    width: int
    steps: int
    tiles: int
    step_flops: int


def stages(config, height: int, width: int) -> list[Stage]:
    """The run's scales, coarsest first, for a ``height x width`` output."""
    from tf_nst.images import scaled_size
    from tf_nst.tiling import tile_boxes

    out = []
    for side, steps in zip(config.scale_sizes, config.scale_steps):
        h, w = scaled_size(height, width, side)
        boxes = ([(h, w)] if not config.tiled(side) else
                 [(b.height, b.width) for b in tile_boxes(h, w, config.tile_size,
                                                          config.tile_overlap)])
        total = sum(flops.step_flops(bh, bw, config.content_layers, config.style_layers).total
                    for bh, bw in boxes)
        out.append(Stage(side, h, w, steps, len(boxes), total))
    return out


def expected_seconds(run_stages: list[Stage], rate: float) -> float:
    """Seconds the stages take at ``rate`` FLOP/s: each scale's steps, plus its start cost
    (:data:`TRACE_SECONDS` and :data:`TARGET_STEPS` steps)."""
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a positive number of FLOP/s, not {rate}")
    return sum(TRACE_SECONDS + (stage.steps + TARGET_STEPS) * stage.step_flops / rate
               for stage in run_stages)


def format_duration(seconds: float) -> str:
    """``'40 s'``, ``'14 min'`` or ``'2 h 05 min'``."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def time_line(config, height: int, width: int, rate: float) -> str:
    """E.g. ``'about 17 min: 40 steps at 512 px, 200 at 1024 px, 40 at 2048 px (398 GFLOP/s
    measured)'``; a tiled scale adds its tiles: ``'40 at 4096 px (4 tiles of 2080 px)'``."""
    run_stages = stages(config, height, width)
    parts = []
    for k, stage in enumerate(run_stages):
        text = f"{stage.steps}{' steps' if k == 0 else ''} at {stage.side} px"
        if stage.tiles > 1:
            text += f" ({stage.tiles} tiles of {config.tile_size} px)"
        parts.append(text)
    return (f"about {format_duration(expected_seconds(run_stages, rate))}: " + ", ".join(parts)
            + f" ({rate / 1e9:.0f} GFLOP/s measured)")


def measure_rate(config, side: int = 256, steps: int = 3) -> float:
    """This machine's FLOP/s for ``config``'s step (its layers, precision, optimiser): the median
    of ``steps`` steps at ``side`` px on random images, after a first (tracing) step."""
    import numpy as np

    from tf_nst.transfer import StyleTransfer

    rng = np.random.default_rng(0)
    content, style = (rng.random((side, side, 3), dtype=np.float32) for _ in range(2))
    small = config.replace(image_size=side, scales=1, steps_per_scale=(), tile_size=0,
                           num_steps=steps + 1, init="content", style_scale=1.0)
    run = StyleTransfer(content, style, small)
    run.step(1)
    times = timeit.repeat(lambda: run.step(1), repeat=steps, number=1)
    work = flops.step_flops(side, side, config.content_layers, config.style_layers).total
    return work / float(np.median(times))
