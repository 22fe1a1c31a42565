"""The one source of truth for every hyper-parameter: :class:`Config`, read by the library, the
commands (each field is a flag with its help text, :mod:`tf_nst.flags`), the presets and the
exporter.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from tf_nst import hardware, layers

INIT_NAMED = ("content", "noise", "style")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
FORMULATIONS = ("authors", "printed")
AUTO_COARSEST = 640  # --scales=0: the fewest scales whose coarsest is at most this many px


class ConfigError(ValueError):
    """An invalid hyper-parameter; ``str(err)`` is one line naming the flag."""


def _field(default: Any, help: str, **extra: Any) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, **extra})


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters of one style transfer (see Gatys et al. 2016, Sec. 2)."""

    image_size: int = _field(
        512, "Longest side of the output in pixels; the content image is resized to it, keeping "
        "its aspect ratio.", group="images")
    style_scale: float = _field(
        1.0, "Size of the style image relative to --image_size (longest side = image_size * "
        "style_scale). Smaller values give larger brush strokes.", group="images")
    max_pixels: int = _field(
        100_000_000, "Refuse input images whose decoded size exceeds this many pixels "
        "(decompression-bomb guard).", group="images")

    # The defaults are the paper's layers (Gatys et al. 2016, Fig. 2).
    content_layers: tuple[str, ...] = _field(
        ("conv4_2",), "VGG19 layers whose feature maps define the content, in the paper's "
        "notation (conv4_2, relu4_2) or Keras' (block4_conv2).", group="network")
    style_layers: tuple[str, ...] = _field(
        ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
        "VGG19 layers whose Gram matrices define the style.", group="network")
    style_layer_weights: tuple[float, ...] = _field(
        (), "Weight w_l of each style layer. Empty = proportional to 1/N_l^2 (N_l = the layer's "
        "channels) and summing to 1, as the authors' code weighs them; equal weights 1/L with "
        "--formulation=printed, as the paper's text.", group="network")
    pooling: str = _field(
        "max", "Pooling in VGG19: 'max' (as trained) or 'avg' (the paper's advice for smoother "
        "results; same weights).", group="network", choices=("max", "avg"))
    weights: str = _field(
        "imagenet", "VGG19 weights: 'imagenet' (Keras' cache, ~/.keras/models/) or the path of "
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5.", group="network")

    formulation: str = _field(
        "authors", "The objective's form. 'authors', as the authors' released code: the normalised "
        "VGG19 (Sec. 2), Gram matrices divided by M and mean squared errors, the same balance at "
        "every image size. 'printed': the paper's printed sums (Eqs. 1, 4) on the raw VGG19 "
        "weights, where one layer dominates the style and the content weighs more at larger "
        "sizes. See docs/objective.md.", group="loss", choices=FORMULATIONS)
    content_weight: float = _field(
        1.0, "alpha: weight of the content loss at conv4_2 (mean squared error of the features; "
        "1/2 sum (F - P)^2 with --formulation=printed).", group="loss")
    style_weight: float = _field(
        20.0, "beta: weight of the style loss sum_l w_l E_l, the main dial: a smaller alpha/beta "
        "gives more of the painting's strokes and colours, a larger one more of the photo. The "
        "default alpha/beta = 0.05 is the paper's Fig. 2 balance in the authors' formulation; "
        "with --formulation=printed, the paper's 1e-3 needs 1000 (--preset=gatys2016_printed).",
        group="loss")
    tv_weight: float = _field(
        0.0, "Weight of the total-variation (smoothness) loss on 0-255 pixels.", group="loss")

    # The creative controls of Gatys et al. 2017, "Controlling perceptual factors".
    style_blend_weights: tuple[float, ...] = _field(
        (), "With several --style images: the weight of each style, normalised to sum to 1 "
        "(empty = equal weights).", group="creative")
    original_colors: bool = _field(
        False, "Keep the content's colours: the output's luminance is combined with the content "
        "image's chroma (YIQ), after the optimisation.", group="creative")
    color_transfer: str = _field(
        "none", "Match each style image's colours to the content before the transfer: 'none', "
        "'histogram' (mean and covariance of RGB) or 'luminance' (mean and spread of the "
        "luminance only).", group="creative", choices=("none", "histogram", "luminance"))

    optimizer: str = _field(
        "lbfgs", "'lbfgs' (the paper's choice) or 'adam'.", group="optimization",
        choices=("lbfgs", "adam"))
    learning_rate: float = _field(
        0.02, "Adam: step size in pixel units (pixels are in [0, 1]). L-BFGS: largest pixel change "
        "of its first step (later steps are scaled by the curvature estimate).",
        group="optimization")
    num_steps: int = _field(
        500, "Number of optimisation steps; each step is one loss-and-gradient evaluation.",
        group="optimization")
    lbfgs_history: int = _field(
        10, "L-BFGS: number of curvature pairs (s, y) kept.", group="optimization")
    lbfgs_frequency_gain: float = _field(
        0.0, "L-BFGS: an initial inverse Hessian that scales each spatial frequency f (cycles per "
        "pixel) of the step by min(G, max(1, 0.5/f)): up to G times longer steps along the low "
        "frequencies, whose curvature is small. 0 = off (the identity, as the paper's L-BFGS).",
        group="optimization")
    style_ramp_steps: int = _field(
        0, "Style-weight continuation: over the first N steps of each optimiser start (each "
        "scale, each tile visit) the style weight rises linearly from --style_ramp_start x beta "
        "to beta. 0 = the constant weight of the paper.", group="optimization")
    style_ramp_start: float = _field(
        0.1, "With --style_ramp_steps: the style weight at the first step, as a fraction "
        "of --style_weight, in (0, 1].", group="optimization")
    stop_tolerance: float = _field(
        0.002, "Stop before --num_steps once the total loss L has fallen by less than this "
        "fraction over the last 20 steps, (L[k-20] - L[k]) / |L[k]| < T: judged from step 21 "
        "(with --style_ramp_steps=K, from step K + 21), at the finest scale, each image of a "
        "batch alone. 0 = never stop early (the paper's --num_steps steps). See "
        "docs/performance.md, 'When a run stops'.", group="optimization")
    init: str = _field(
        "content", "Starting image: 'content', 'noise', 'style' or the path of an image.",
        group="optimization")
    noise_ratio: float = _field(
        0.0, "Blend this fraction of uniform noise into the starting image (0 = none, 1 = all "
        "noise).", group="optimization")
    seed: int = _field(
        0, "Random seed of the noise; the same seed gives the same output on the same machine.",
        group="optimization")
    precision: str = _field(
        "auto", "Arithmetic of the network: 'float32', or mixed precision with the first "
        "convolution, Gram matrices and losses kept in float32; 'auto' = mixed_bfloat16 where "
        "bfloat16 is native (CPUs with AVX-512 BF16/AMX, Ampere+ GPUs, TPUs), else float32. "
        "Images and optimiser state stay float32; mixed_float16 scales the loss each step so "
        "gradients neither overflow nor underflow.", group="optimization", choices=PRECISIONS)

    scales: int = _field(
        1, "Number of resolutions of a coarse-to-fine schedule (1 = single scale, the paper). "
        "Scale k of n optimises at image_size / scale_factor^(n-1-k), starting from the upsampled "
        "result of the previous scale; targets are recomputed at each size. 0 = automatic: the "
        "fewest scales whose coarsest is at most 640 px (1 up to --image_size=640).",
        group="schedule")
    scale_factor: float = _field(
        2.0, "Ratio between the sizes of successive scales (> 1).", group="schedule")
    steps_per_scale: tuple[int, ...] = _field(
        (), "Optimisation steps at each scale, coarsest first; must sum to --num_steps. Empty = "
        "--num_steps split evenly, the remainder going to the finest scale. With --scales=0: the "
        "steps from the second scale on, the last number repeated for any further scale; the "
        "coarsest gets the rest of --num_steps.", group="schedule")
    tile_size: int = _field(
        0, "Optimise every scale larger than this many px (longest side) in overlapping square "
        "tiles of this size, one after the other, against Gram targets of the whole style image "
        "(0 = never tile). Bounds the memory of large outputs by the tile's, not the image's. "
        "-1 = automatic: the command tiles only when the run would not fit in memory, with the "
        "largest tile (2048/1024/512/256 px) that fits.", group="schedule")
    tile_overlap: int = _field(
        64, "With --tile_size: least overlap of neighbouring tiles in px; the tiles' results are "
        "cross-faded over it. Must be less than half of --tile_size.", group="schedule")
    tile_sweeps: int = _field(
        2, "With --tile_size: passes over all tiles per tiled scale; each tile's share of the "
        "scale's steps is split evenly over them, so neighbours adapt to each other.",
        group="schedule")

    jit_compile: bool = _field(
        False, "Compile the step with XLA (tf.function(jit_compile=True)). Helps on GPUs/TPUs; "
        "slower on CPUs, hence off by default.", group="performance")

    def __post_init__(self) -> None:
        # Sequences may also be given as lists or comma-separated strings.
        for name, kind in (("content_layers", str), ("style_layers", str), ("steps_per_scale", int),
                           ("style_layer_weights", float), ("style_blend_weights", float)):
            object.__setattr__(self, name, _as_tuple(getattr(self, name), kind, name))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line naming the flag) on any invalid value."""
        self._validate_images()
        self._validate_loss()
        self._validate_optimization()
        self._validate_schedule()

    def _check(self, ok: bool, name: str, what: str) -> None:
        """:class:`ConfigError` ``--NAME=VALUE: WHAT`` unless ``ok``."""
        if not ok:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = ",".join(map(str, value))
            raise ConfigError(f"--{name}={value}: {what}")

    def _validate_images(self) -> None:
        self._check(self.image_size > 0, "image_size", "must be a positive integer")
        self._check(self.image_size <= 16384, "image_size", "must be at most 16384")
        self._check(0 < self.style_scale < float("inf"), "style_scale",
                    "must be a finite positive number")
        self._check(self.max_pixels > 0, "max_pixels", "must be positive")
        self._check(bool(self.content_layers or self.style_layers), "content_layers",
                    "and --style_layers cannot both be empty")
        for name in ("content_layers", "style_layers"):
            for layer in getattr(self, name):
                try:
                    layers.keras_name(layer)
                except ValueError as err:
                    raise ConfigError(f"--{name}: {err}") from None

    def _validate_loss(self) -> None:
        if self.style_layer_weights:
            self._check(len(self.style_layer_weights) == len(self.style_layers),
                        "style_layer_weights", f"needs one weight per style layer "
                        f"({len(self.style_layers)} layers: {','.join(self.style_layers)})")
            self._check(all(w >= 0 for w in self.style_layer_weights), "style_layer_weights",
                        "must be non-negative")
        if self.style_blend_weights:
            self._check(all(0 <= w < float("inf") for w in self.style_blend_weights),
                        "style_blend_weights", "must be finite and non-negative")
            self._check(sum(self.style_blend_weights) > 0, "style_blend_weights",
                        "must not all be zero")
        for field in fields():
            choices = field.metadata.get("choices")
            self._check(not choices or getattr(self, field.name) in choices, field.name,
                        f"must be one of {choices}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            self._check(0 <= getattr(self, name) < float("inf"), name,
                        "must be a finite non-negative number")

    def _validate_optimization(self) -> None:
        self._check(0 < self.learning_rate < float("inf"), "learning_rate", "must be positive")
        self._check(self.num_steps >= 0, "num_steps", "must be >= 0")
        self._check(self.lbfgs_history >= 1, "lbfgs_history", "must be >= 1")
        gain = self.lbfgs_frequency_gain
        self._check(gain == 0 or 1 <= gain < float("inf"), "lbfgs_frequency_gain",
                    "must be 0 (off) or >= 1")
        self._check(self.style_ramp_steps >= 0, "style_ramp_steps", "must be >= 0")
        self._check(0.0 < self.style_ramp_start <= 1.0, "style_ramp_start", "must be in (0, 1]")
        self._check(0.0 <= self.stop_tolerance < float("inf"), "stop_tolerance",
                    "must be a finite number >= 0 (0 = never stop early)")
        self._check(0.0 <= self.noise_ratio <= 1.0, "noise_ratio", "must be between 0 and 1")
        self._check(bool(self.init), "init", "must be content, noise, style or a path")

    def _validate_schedule(self) -> None:
        self._check(0 <= self.scales <= 8, "scales", "must be between 1 and 8, or 0 (automatic)")
        self._check(1.0 < self.scale_factor <= 8.0, "scale_factor", "must be in (1, 8]")
        coarsest = round(self.image_size / self.scale_factor ** (self.scale_count - 1))
        self._check(self.scale_count == 1 or coarsest >= 32, "scales",
                    f"makes the coarsest scale {coarsest} px with --image_size={self.image_size} "
                    f"and --scale_factor={self.scale_factor:g}; it must be at least 32 px")
        if self.steps_per_scale:
            self._validate_steps_per_scale()
        self._check(self.tile_size in (0, -1) or 64 <= self.tile_size <= 16384, "tile_size",
                    "must be 0 (no tiling), -1 (automatic) or between 64 and 16384 px")
        self._check(self.tile_overlap >= 0, "tile_overlap", "must be >= 0")
        self._check(self.tile_size <= 0 or 2 * self.tile_overlap < self.tile_size, "tile_overlap",
                    f"must be less than half of --tile_size={self.tile_size}")
        self._check(self.tile_sweeps >= 1, "tile_sweeps", "must be >= 1")

    def _validate_steps_per_scale(self) -> None:
        """One non-negative count per scale, summing to --num_steps; with --scales=0, the counts
        from the second scale on, which must leave steps for the coarsest."""
        steps = self.steps_per_scale
        self._check(self.scales == 0 or len(steps) == self.scales, "steps_per_scale",
                    f"needs one step count per scale (--scales={self.scales})")
        self._check(all(n >= 0 for n in steps), "steps_per_scale", "must be non-negative")
        if self.scales:
            self._check(sum(steps) == self.num_steps, "steps_per_scale",
                        f"sums to {sum(steps)}, not --num_steps={self.num_steps}")
        else:
            later = sum(self.scale_steps[1:])
            self._check(later <= self.num_steps, "steps_per_scale",
                        f"gives the {self.scale_count - 1} scales after the coarsest {later} "
                        f"steps, more than --num_steps={self.num_steps}")

    # --- derived values -------------------------------------------------------------------------
    @property
    def resolved_style_layer_weights(self) -> tuple[float, ...]:
        """w_l: ``style_layer_weights``, else 1/N_l^2 normalised to sum to 1 (the authors' code),
        or 1/L with ``formulation='printed'`` (the paper's text)."""
        if self.style_layer_weights:
            return self.style_layer_weights
        if self.formulation == "printed":
            return tuple(1.0 / len(self.style_layers) for _ in self.style_layers)
        inverse = [1.0 / layers.channels(name) ** 2 for name in self.style_layers]
        return tuple(w / sum(inverse) for w in inverse)

    def style_side(self, side: int | None = None) -> int:
        """Longest side of the style image for an output whose longest side is ``side`` (default
        ``image_size``): ``max(1, round(side * style_scale))``, Python's round (half to even)."""
        return max(1, round((self.image_size if side is None else side) * self.style_scale))

    @property
    def compute_precision(self) -> str:
        """``precision`` with ``'auto'`` resolved for this machine (:mod:`tf_nst.hardware`)."""
        try:
            return hardware.resolve_precision(self.precision)
        except ValueError as err:  # a bad $TF_NST_AUTO_PRECISION
            raise ConfigError(str(err)) from None

    @property
    def scale_count(self) -> int:
        """The number of scales: ``scales``, or with ``scales=0`` the fewest (at most 8) whose
        coarsest side, ``image_size / scale_factor^(n-1)``, is at most :data:`AUTO_COARSEST`."""
        if self.scales:
            return self.scales
        return next((n for n in range(1, 8)
                     if self.image_size / self.scale_factor ** (n - 1) <= AUTO_COARSEST), 8)

    @property
    def scale_sizes(self) -> tuple[int, ...]:
        """Longest side of each scale of the coarse-to-fine schedule, coarsest first."""
        n = self.scale_count
        return tuple(self.image_size if k == n - 1
                     else max(1, round(self.image_size / self.scale_factor ** (n - 1 - k)))
                     for k in range(n))

    @property
    def scale_steps(self) -> tuple[int, ...]:
        """Optimisation steps at each scale, coarsest first (they sum to ``num_steps``)."""
        n = self.scale_count
        if self.scales == 0 and self.steps_per_scale:
            given = self.steps_per_scale
            later = tuple(given[min(k, len(given) - 1)] for k in range(n - 1))
            return (self.num_steps - sum(later),) + later
        if self.steps_per_scale:
            return self.steps_per_scale
        even, rest = divmod(self.num_steps, n)
        return tuple(even + (rest if k == n - 1 else 0) for k in range(n))

    def tiled(self, side: int) -> bool:
        """Whether a scale whose longest side is ``side`` px is optimised tile by tile."""
        return 0 < self.tile_size < side

    @property
    def tiling(self) -> bool:
        """Whether any scale is tiled (the final one is the largest)."""
        return self.tiled(self.image_size)

    def resolved_style_blend_weights(self, num_styles: int) -> tuple[float, ...]:
        """Blend weights of ``num_styles`` styles, normalised to sum to 1 (equal when none)."""
        if not self.style_blend_weights:
            return (1.0 / num_styles,) * num_styles
        self._check(len(self.style_blend_weights) == num_styles, "style_blend_weights",
                    f"needs one weight per style image ({num_styles} given)")
        total = sum(self.style_blend_weights)
        return tuple(w / total for w in self.style_blend_weights)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)


def fields() -> tuple[dataclasses.Field, ...]:
    """The hyper-parameter fields, in declaration order (used to build the flags)."""
    return dataclasses.fields(Config)


def _as_tuple(value: Any, kind: type, name: str) -> tuple:
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v]
    try:
        return tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"--{name}={value!r}: expected a comma-separated list of "
                          f"{kind.__name__} values") from None


def groups() -> dict[str, Sequence[str]]:
    """Field names per flag group, in declaration order (for the README and ``--helpfull``)."""
    out: dict[str, list[str]] = {}
    for f in fields():
        out.setdefault(f.metadata.get("group", "other"), []).append(f.name)
    return out
