"""How much memory a run needs, estimated before it starts, and a refusal when it cannot fit.

The estimate adds up what one optimisation step (batch of one) keeps alive at its peak, with
constants fitted to the peak resident memory of real runs on CPU (docs/performance.md, "Design
figures"; ``tests/test_resources.py`` keeps them within a factor of 2). Only host memory is
checked: on a GPU the activations live in device memory instead.
"""

from __future__ import annotations

import dataclasses
import pathlib

from tf_nst import layers

GB = 1e9
RUNTIME_BYTES = 800e6  # measured: TensorFlow, Keras, Python and VGG19's weights (CPU)
# Live activation bytes per element of all the network's layer outputs during forward + backward
# (in units of the compute dtype's size).
ACTIVATION_FACTOR = 1.45
STATE_FACTOR = 2.0  # images alive per optimiser-state image in a step: old, new, temporaries
# Full-size images a tiled run keeps (see tf_nst.tiling): the canvas, its change in a sweep, the
# content (read and resized), a copy and the blend.
TILED_FULL_IMAGES = 8


class ResourceError(RuntimeError):
    """The run cannot fit; ``str(err)`` is one line with what to change."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Bytes a run needs at its peak, by part."""

    height: int
    width: int
    activations: float
    optimizer_state: float
    targets: float
    checkpoint: float
    runtime: float = RUNTIME_BYTES
    canvas: float = 0.0  # full-size images of a tiled run

    @property
    def total(self) -> float:
        return (self.activations + self.optimizer_state + self.targets + self.checkpoint
                + self.runtime + self.canvas)

    def describe(self) -> str:
        parts = {"activations": self.activations, "optimizer": self.optimizer_state,
                 "targets": self.targets, "checkpoint": self.checkpoint, "canvas": self.canvas,
                 "runtime": self.runtime}
        return ", ".join(f"{k} {v / GB:.2f}" for k, v in parts.items() if v) + " GB"


def _elements(shapes, layer_names=None) -> int:
    """Elements of the layer outputs ``shapes`` (``(keras name, h, w, c)``); only those of
    ``layer_names`` (the config's names) if given."""
    keras = None if layer_names is None else {layers.keras_name(n) for n in layer_names}
    return sum(h * w * c for name, h, w, c in shapes if keras is None or name in keras)


def estimate(config, height: int, width: int, style_height: int | None = None,
             style_width: int | None = None, checkpointing: bool = False) -> Estimate:
    """The memory a run of ``config`` needs for a ``height x width`` output (tiled if
    ``config.tile_size`` is smaller: one tile's activations and state, plus the canvas)."""
    names = tuple(config.content_layers) + tuple(config.style_layers)
    act_bytes = 4 if config.compute_precision == "float32" else 2
    canvas = 0.0
    if config.tiled(max(height, width)):
        canvas = TILED_FULL_IMAGES * height * width * 3 * 4.0
        height, width = min(height, config.tile_size), min(width, config.tile_size)
    shapes = layers.output_shapes(height, width, layers.deepest(names))
    # Forward + backward of the generated image; in mixed precision the layers used by the loss
    # are also cast to float32.
    activations = ACTIVATION_FACTOR * _elements(shapes) * act_bytes
    if act_bytes != 4:
        activations += _elements(shapes, names) * 4
        # The first convolution runs in float32 (tf_nst.features.FeatureExtractor).
        _, h, w, c = shapes[0]
        activations += ACTIVATION_FACTOR * h * w * c * (4 - act_bytes)

    pixels = height * width * 3
    state_images = 3 if config.optimizer == "adam" else 4 + 2 * config.lbfgs_history
    optimizer_state = STATE_FACTOR * state_images * pixels * 4

    content_maps = _elements(shapes, config.content_layers)
    grams = sum(layers.channels(n) ** 2 for n in config.style_layers)
    targets = 4 * (content_maps + 3 * grams)
    if style_height and style_width:
        # The style image's forward pass keeps the style layers' maps for their Gram matrices
        # beside the largest layer; it peaks as high in mixed precision as in float32.
        style_shapes = layers.output_shapes(style_height, style_width, layers.deepest(names))
        kept = _elements(style_shapes, config.style_layers)
        style_peak = 4 * (kept + max(h * w * c for _, h, w, c in style_shapes))
        targets += max(0.0, style_peak - activations)
    checkpoint = state_images * pixels * 4 if checkpointing else 0.0
    return Estimate(height, width, float(activations), float(optimizer_state), float(targets),
                    float(checkpoint), canvas=canvas)


def _proc_bytes(path: str, key: str) -> int | None:
    """The ``key: N kB`` line of a /proc file, in bytes; None if unknown."""
    try:
        with open(path) as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def available_bytes() -> float | None:
    """Memory this process may still use: MemAvailable capped by a cgroup limit; None if unknown."""
    candidates = [b for b in (_proc_bytes("/proc/meminfo", "MemAvailable"), _cgroup_room())
                  if b is not None]
    return float(min(candidates)) if candidates else None


def _cgroup_room() -> float | None:
    """``memory.max - memory.current`` of this process's cgroup (v2, else v1), if limited."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            raw = pathlib.Path(limit_file).read_text().strip()
            if raw == "max" or int(raw) >= 1 << 60:
                return None
            return float(int(raw) - int(pathlib.Path(usage_file).read_text()))
        except (OSError, ValueError):
            continue
    return None


def resident_bytes() -> float:
    """This process's resident memory now (``VmRSS``; 0 if unknown)."""
    return float(_proc_bytes("/proc/self/status", "VmRSS") or 0)


def peak_resident_bytes() -> float:
    """The peak resident memory of this process so far (``VmHWM``; 0 if unknown).

    Not ``getrusage().ru_maxrss``: Linux carries that over ``execve`` from the parent that forked
    the process, so a subprocess of a big process reports its parent's peak."""
    return float(_proc_bytes("/proc/self/status", "VmHWM") or 0)


def largest_fitting_size(config, aspect: float, budget: float, style_height: int | None = None,
                         style_width: int | None = None, checkpointing: bool = False) -> int:
    """The largest ``image_size`` (a multiple of 64, at least 64) whose estimate fits ``budget``;
    0 if even 64 px does not. ``aspect`` = shorter side / longer side of the content image; the
    style image (given at ``config.image_size``) is scaled with it."""
    best = 0
    for size in range(64, config.image_size + 1, 64):
        h, w = size, max(1, round(size * aspect))
        scale = size / config.image_size
        style = ((max(1, round(style_height * scale)), max(1, round(style_width * scale)))
                 if style_height and style_width else (None, None))
        if estimate(config, h, w, *style, checkpointing=checkpointing).total > budget:
            break
        best = size
    return best


def _fitting_tile(config, height: int, width: int, budget: float, **kwargs) -> int:
    """The largest of 2048/1024/512/256 px, smaller than the output and than the current
    ``tile_size``, with which the run fits ``budget``; 0 if none does."""
    for tile in (2048, 1024, 512, 256):
        if tile < max(height, width) and (not config.tile_size or tile < config.tile_size):
            if estimate(_with_tile(config, tile), height, width, **kwargs).total <= budget:
                return tile
    return 0


def check(config, height: int, width: int, limit_bytes: float | None = None,
          style_height: int | None = None, style_width: int | None = None,
          checkpointing: bool = False) -> Estimate:
    """The estimate; :class:`ResourceError` if it clearly exceeds ``limit_bytes`` (default: the
    memory available now plus what this process already holds)."""
    kwargs = dict(style_height=style_height, style_width=style_width, checkpointing=checkpointing)
    needed = estimate(config, height, width, **kwargs)
    budget = memory_budget() if limit_bytes is None else limit_bytes
    if budget is None or needed.total <= budget:
        return needed
    aspect = min(height, width) / max(height, width)
    hints = []
    if fits := largest_fitting_size(config, aspect, budget, **kwargs):
        hints.append(f"--image_size={fits} fits")
    if tile := _fitting_tile(config, height, width, budget, **kwargs):
        hints.append(f"--tile_size={tile} fits")
    if scale := _fitting_style_scale(config, height, width, budget, **kwargs):
        hints.append(f"--style_scale={scale:g} fits")
    if config.optimizer == "lbfgs":
        if estimate(config.replace(optimizer="adam"), height, width, **kwargs).total <= budget:
            hints.append("--optimizer=adam fits")
        elif config.lbfgs_history > 3:
            hints.append("a smaller --lbfgs_history also helps")
    if config.compute_precision == "float32":
        hints.append("--precision=mixed_bfloat16 halves the activations")
    hints.append("--memory_limit_gb or --nocheck_memory override this check")
    where = "available" if limit_bytes is None else "allowed by --memory_limit_gb"
    raise ResourceError(
        f"a {width}x{height} px run needs about {needed.total / GB:.1f} GB of memory "
        f"({needed.describe()}) but only {budget / GB:.1f} GB is {where}; " + "; ".join(hints))


def _fitting_style_scale(config, height: int, width: int, budget: float, style_height=None,
                         style_width=None, **kwargs) -> float:
    """The largest of 3/4, 1/2 and 1/4 of ``config.style_scale`` with which the run fits
    ``budget`` (the style image's own forward pass can be the peak); 0 if none does."""
    for factor in (0.75, 0.5, 0.25) if style_height and style_width else ():
        style = (max(1, round(style_height * factor)), max(1, round(style_width * factor)))
        if estimate(config, height, width, *style, **kwargs).total <= budget:
            return config.style_scale * factor
    return 0.0


def memory_budget(limit_bytes: float | None = None) -> float | None:
    """The bytes a run may use: ``limit_bytes`` if given, else the memory available now plus the
    runtime this process may already hold (as :func:`check` counts it); None if unknown."""
    if limit_bytes:
        return float(limit_bytes)
    room = available_bytes()
    if room is None:
        return None
    # What this process already uses (the runtime, partly) is not in MemAvailable.
    return room + min(resident_bytes(), RUNTIME_BYTES)


def _with_tile(config, tile: int):
    """``config`` tiled at ``tile`` px, its overlap cut to at most a quarter of the tile."""
    return config.replace(tile_size=tile, tile_overlap=min(config.tile_overlap, tile // 4))


def auto_tile(config, height: int, width: int, budget: float, **kwargs) -> int:
    """The tile of the fewest tiles per side (2, 3, ...) with which the run fits ``budget``: the
    smallest multiple of 16 px that covers the longer side in that many tiles with the overlap
    of ``config`` (at most a quarter of the tile); 0 if none of at least 128 px fits."""
    longer = max(height, width)
    for per_side in range(2, longer // 64 + 1):
        tile = -(-(longer + (per_side - 1) * config.tile_overlap) // per_side)  # ceil division
        tile = 16 * -(-tile // 16)
        if tile < 128:
            return 0
        if estimate(_with_tile(config, tile), height, width, **kwargs).total <= budget:
            return tile
    return 0


def resolve(config, height: int, width: int, budget: float | None,
            style_height: int | None = None, style_width: int | None = None,
            checkpointing: bool = False):
    """``config`` with its automatic choices made for a ``height x width`` output: ``scales=0``
    becomes its number of scales and ``steps_per_scale`` their steps; ``tile_size=-1`` becomes 0
    if the untiled run fits ``budget`` (or the budget is unknown), else :func:`auto_tile`'s tile
    (the fewest tiles that fit), else 0 (:func:`check` then refuses the run, saying what fits)."""
    if config.scales == 0:
        config = config.replace(scales=config.scale_count, steps_per_scale=config.scale_steps)
    if config.tile_size != -1:
        return config
    untiled = config.replace(tile_size=0)
    kwargs = dict(style_height=style_height, style_width=style_width, checkpointing=checkpointing)
    if budget is None or estimate(untiled, height, width, **kwargs).total <= budget:
        return untiled
    tile = auto_tile(untiled, height, width, budget, **kwargs)
    if not tile:
        return untiled
    return _with_tile(config, tile)
