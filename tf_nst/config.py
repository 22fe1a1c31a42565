"""The one source of truth for every hyper-parameter.

:class:`Config` is read by the library, the command line (every field becomes an absl flag, see
:mod:`tf_nst.flags`), the flagfile presets in ``configs/`` and the exporter. Each field carries its
help text, so the flags' ``--helpfull`` and the code can never disagree.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from tf_nst import hardware, layers

OPTIMIZERS = ("lbfgs", "adam")
POOLINGS = ("max", "avg")
INIT_NAMED = ("content", "noise", "style")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
COLOR_TRANSFERS = ("none", "histogram", "luminance")
FORMULATIONS = ("authors", "printed")
# --scales=0: the fewest scales whose coarsest is at most this many px (Config.scale_count).
AUTO_COARSEST = 640

# The paper's choice (Gatys et al. 2016, Fig. 2): content at conv4_2, style at conv1_1 ... conv5_1
# with equal weights w_l = 1/5.
PAPER_CONTENT_LAYERS = ("conv4_2",)
PAPER_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


class ConfigError(ValueError):
    """An invalid hyper-parameter; ``str(err)`` is one line naming the flag."""


def _field(default: Any, help: str, **extra: Any) -> Any:
    metadata = {"help": help, **extra}
    if isinstance(default, (list, dict)):
        raise TypeError("use tuples for sequence defaults")
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyper-parameters of one style transfer (see Gatys et al. 2016, Sec. 2)."""

    # --- images --------------------------------------------------------------------------------
    image_size: int = _field(
        512, "Longest side of the output in pixels; the content image is resized to it, keeping its "
        "aspect ratio.", group="images")
    style_scale: float = _field(
        1.0, "Size of the style image relative to --image_size (longest side = image_size * "
        "style_scale). Smaller values give larger brush strokes.", group="images")
    max_pixels: int = _field(
        100_000_000, "Refuse input images whose decoded size exceeds this many pixels "
        "(decompression-bomb guard).", group="images")

    # --- network -------------------------------------------------------------------------------
    content_layers: tuple[str, ...] = _field(
        PAPER_CONTENT_LAYERS, "VGG19 layers whose feature maps define the content, in the paper's "
        "notation (conv4_2, relu4_2) or Keras' (block4_conv2).", group="network")
    style_layers: tuple[str, ...] = _field(
        PAPER_STYLE_LAYERS, "VGG19 layers whose Gram matrices define the style.", group="network")
    style_layer_weights: tuple[float, ...] = _field(
        (), "Weight w_l of each style layer. Empty = proportional to 1/N_l^2 (N_l = the layer's "
        "channels) and summing to 1, as the authors' code weighs them; equal weights 1/L with "
        "--formulation=printed, as the paper's text.", group="network")
    pooling: str = _field(
        "max", "Pooling in VGG19: 'max' (as trained) or 'avg' (the paper's advice for smoother "
        "results; same weights).", group="network", choices=POOLINGS)
    weights: str = _field(
        "imagenet", "VGG19 weights: 'imagenet' (Keras' cache, ~/.keras/models/) or the path of "
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5.", group="network")

    # --- loss ----------------------------------------------------------------------------------
    formulation: str = _field(
        "authors", "The objective's form. 'authors': the normalised VGG19 (each filter's mean "
        "activation over photos is 1, as the paper's Sec. 2 says), Gram matrices divided by M and "
        "mean squared errors, as the authors' released code: the balance is the same at every "
        "image size. 'printed': the paper's printed sums (Eqs. 1, 4) on the raw VGG19 weights; "
        "its alpha/beta is the paper's Fig. 2 (1e-3) but one layer dominates the style and the "
        "content weighs more at larger sizes. See docs/objective.md.",
        group="loss", choices=FORMULATIONS)
    content_weight: float = _field(
        1.0, "alpha: weight of the content loss at conv4_2 (mean squared error of the features; "
        "1/2 sum (F - P)^2 with --formulation=printed).", group="loss")
    style_weight: float = _field(
        20.0, "beta: weight of the style loss sum_l w_l E_l, the main dial: a smaller alpha/beta "
        "gives more of the painting's strokes and colours, a larger one more of the photo. The "
        "default alpha/beta = 0.05 is the balance of the paper's Fig. 2 in the authors' "
        "formulation; with --formulation=printed the paper's 1e-3 needs --style_weight=1000, as "
        "--preset=gatys2016_printed sets).", group="loss")
    tv_weight: float = _field(
        0.0, "Weight of the total-variation (smoothness) loss on 0-255 pixels.", group="loss")

    # --- creative controls (Gatys et al. 2017, "Controlling perceptual factors") ----------------
    style_blend_weights: tuple[float, ...] = _field(
        (), "With several --style images: the weight of each style, normalised to sum to 1 "
        "(empty = equal weights).", group="creative")
    original_colors: bool = _field(
        False, "Keep the content's colours: the output's luminance is combined with the content "
        "image's chroma (YIQ), after the optimisation.", group="creative")
    color_transfer: str = _field(
        "none", "Match each style image's colours to the content before the transfer: 'none', "
        "'histogram' (mean and covariance of RGB) or 'luminance' (mean and spread of the "
        "luminance only).", group="creative", choices=COLOR_TRANSFERS)

    # --- optimisation ---------------------------------------------------------------------------
    optimizer: str = _field(
        "lbfgs", "'lbfgs' (the paper's choice) or 'adam'.", group="optimization",
        choices=OPTIMIZERS)
    learning_rate: float = _field(
        0.02, "Adam: step size in pixel units (pixels are in [0, 1]). L-BFGS: largest pixel change "
        "of its first step (later steps are scaled by the curvature estimate).",
        group="optimization")
    num_steps: int = _field(
        500, "Number of optimisation steps; each step is one loss-and-gradient evaluation.",
        group="optimization")
    lbfgs_history: int = _field(
        10, "L-BFGS: number of curvature pairs (s, y) kept.", group="optimization")
    lbfgs_multiscale: int = _field(
        0, "L-BFGS: levels of a multi-resolution initial inverse Hessian, which takes larger "
        "steps along the image's low frequencies (0 = the identity, as the paper's L-BFGS); "
        "it helps small images most.", group="optimization")
    lbfgs_frequency_gain: float = _field(
        0.0, "L-BFGS: an initial inverse Hessian that scales each spatial frequency of the step "
        "by min(G, max(1, 0.5/f)), f its magnitude in cycles per pixel: longer steps along the "
        "image's low frequencies, whose curvature is small, up to G times. 0 = off (the "
        "identity, as the paper's L-BFGS). Not with --lbfgs_multiscale.", group="optimization")
    style_ramp_steps: int = _field(
        0, "Style-weight continuation: over the first N steps of each optimiser start (each "
        "scale, each tile visit) the style weight rises linearly from --style_ramp_start x beta "
        "to beta (L-BFGS's line search compares each trial with the last accepted point under "
        "that point's weights). 0 = the constant weight of the paper.", group="optimization")
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
        "bfloat16 is native (CPUs with AVX-512 BF16/AMX, Ampere+ GPUs, TPUs: faster, ending "
        "close to float32's loss), else float32. Images and optimiser state always "
        "stay float32; mixed_float16 scales the loss automatically each step so gradients "
        "neither overflow nor underflow.",
        group="optimization", choices=PRECISIONS)

    # --- coarse-to-fine schedule ----------------------------------------------------------------
    scales: int = _field(
        1, "Number of resolutions of a coarse-to-fine schedule (1 = single scale, the paper). Scale "
        "k of n optimises at image_size / scale_factor^(n-1-k), starting from the upsampled result "
        "of the previous scale; targets are recomputed at each size. 0 = automatic: the fewest "
        "scales whose coarsest is at most 640 px (1 up to --image_size=640).", group="schedule")
    scale_factor: float = _field(
        2.0, "Ratio between the sizes of successive scales (> 1).", group="schedule")
    steps_per_scale: tuple[int, ...] = _field(
        (), "Optimisation steps at each scale, coarsest first; must sum to --num_steps. Empty = "
        "--num_steps split evenly, the remainder going to the finest scale. With --scales=0 the "
        "steps of the scales after the coarsest, from the second scale on, the last number "
        "repeated for any further scale; the coarsest gets the rest of --num_steps.",
        group="schedule")
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

    # --- performance ---------------------------------------------------------------------------
    jit_compile: bool = _field(
        False, "Compile the step with XLA (tf.function(jit_compile=True)). Helps on GPUs/TPUs; "
        "slower on CPUs, hence off by default.", group="performance")

    def __post_init__(self) -> None:
        # Normalise sequences given as lists or comma strings, then validate.
        for name in ("content_layers", "style_layers"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name), str, name))
        object.__setattr__(self, "steps_per_scale",
                           _as_tuple(self.steps_per_scale, int, "steps_per_scale"))
        for name in ("style_layer_weights", "style_blend_weights"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name), float, name))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line naming the flag) on any invalid value."""
        self._validate_images()
        self._validate_loss()
        self._validate_optimization()
        self._validate_schedule()

    def _validate_images(self) -> None:
        _check(self.image_size > 0, "image_size", self.image_size, "must be a positive integer")
        _check(self.image_size <= 16384, "image_size", self.image_size, "must be at most 16384")
        _check(0 < self.style_scale < float("inf"), "style_scale", self.style_scale,
               "must be a finite positive number")
        _check(self.max_pixels > 0, "max_pixels", self.max_pixels, "must be positive")
        _check(len(self.content_layers) > 0 or len(self.style_layers) > 0, "content_layers",
               self.content_layers, "and --style_layers cannot both be empty")
        for name in ("content_layers", "style_layers"):
            for layer in getattr(self, name):
                try:
                    layers.keras_name(layer)
                except ValueError as err:
                    raise ConfigError(f"--{name}: {err}") from None

    def _validate_loss(self) -> None:
        if self.style_layer_weights:
            _check(len(self.style_layer_weights) == len(self.style_layers), "style_layer_weights",
                   ",".join(map(str, self.style_layer_weights)),
                   f"needs one weight per style layer ({len(self.style_layers)} layers: "
                   f"{','.join(self.style_layers)})")
            _check(all(w >= 0 for w in self.style_layer_weights), "style_layer_weights",
                   self.style_layer_weights, "must be non-negative")
        if self.style_blend_weights:
            _check(all(0 <= w < float("inf") for w in self.style_blend_weights),
                   "style_blend_weights", self.style_blend_weights,
                   "must be finite and non-negative")
            _check(sum(self.style_blend_weights) > 0, "style_blend_weights",
                   self.style_blend_weights, "must not all be zero")
        for field in fields():
            value, choices = getattr(self, field.name), field.metadata.get("choices")
            _check(not choices or value in choices, field.name, value, f"must be one of {choices}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            _check(value >= 0 and value < float("inf"), name, value,
                   "must be a finite non-negative number")

    def _validate_optimization(self) -> None:
        _check(0 < self.learning_rate < float("inf"), "learning_rate", self.learning_rate,
               "must be positive")
        _check(self.num_steps >= 0, "num_steps", self.num_steps, "must be >= 0")
        _check(self.lbfgs_history >= 1, "lbfgs_history", self.lbfgs_history, "must be >= 1")
        _check(0 <= self.lbfgs_multiscale <= 8, "lbfgs_multiscale", self.lbfgs_multiscale,
               "must be between 0 and 8")
        _check(self.lbfgs_frequency_gain == 0 or 1 <= self.lbfgs_frequency_gain < float("inf"),
               "lbfgs_frequency_gain", self.lbfgs_frequency_gain, "must be 0 (off) or >= 1")
        _check(self.lbfgs_frequency_gain == 0 or self.lbfgs_multiscale == 0,
               "lbfgs_frequency_gain", self.lbfgs_frequency_gain,
               "cannot be combined with --lbfgs_multiscale (both set L-BFGS's initial inverse "
               "Hessian)")
        _check(self.style_ramp_steps >= 0, "style_ramp_steps", self.style_ramp_steps,
               "must be >= 0")
        _check(0.0 < self.style_ramp_start <= 1.0, "style_ramp_start", self.style_ramp_start,
               "must be in (0, 1]")
        _check(0.0 <= self.stop_tolerance < float("inf"), "stop_tolerance", self.stop_tolerance,
               "must be a finite number >= 0 (0 = never stop early)")
        _check(0.0 <= self.noise_ratio <= 1.0, "noise_ratio", self.noise_ratio,
               "must be between 0 and 1")
        _check(bool(self.init), "init", self.init, "must be content, noise, style or a path")

    def _validate_schedule(self) -> None:
        _check(0 <= self.scales <= 8, "scales", self.scales,
               "must be between 1 and 8, or 0 (automatic)")
        _check(1.0 < self.scale_factor <= 8.0, "scale_factor", self.scale_factor,
               "must be in (1, 8]")
        coarsest = round(self.image_size / self.scale_factor ** (self.scale_count - 1))
        _check(self.scale_count == 1 or coarsest >= 32, "scales", self.scales,
               f"makes the coarsest scale {coarsest} px with --image_size={self.image_size} and "
               f"--scale_factor={self.scale_factor:g}; it must be at least 32 px")
        if self.scales == 0:
            self._validate_auto_steps()
        elif self.steps_per_scale:
            _check(len(self.steps_per_scale) == self.scales, "steps_per_scale",
                   self.steps_per_scale, f"needs one step count per scale (--scales={self.scales})")
            _check(all(n >= 0 for n in self.steps_per_scale), "steps_per_scale",
                   self.steps_per_scale, "must be non-negative")
            _check(sum(self.steps_per_scale) == self.num_steps, "steps_per_scale",
                   self.steps_per_scale,
                   f"sums to {sum(self.steps_per_scale)}, not --num_steps={self.num_steps}")
        _check(self.tile_size in (0, -1) or 64 <= self.tile_size <= 16384, "tile_size",
               self.tile_size, "must be 0 (no tiling), -1 (automatic) or between 64 and 16384 px")
        _check(self.tile_overlap >= 0, "tile_overlap", self.tile_overlap, "must be >= 0")
        _check(self.tile_size <= 0 or 2 * self.tile_overlap < self.tile_size, "tile_overlap",
               self.tile_overlap, f"must be less than half of --tile_size={self.tile_size}")
        _check(self.tile_sweeps >= 1, "tile_sweeps", self.tile_sweeps, "must be >= 1")

    def _validate_auto_steps(self) -> None:
        """--steps_per_scale with --scales=0: non-negative, leaving steps for the coarsest."""
        if self.steps_per_scale:
            later = sum(self.scale_steps[1:])
            _check(all(n >= 0 for n in self.steps_per_scale), "steps_per_scale",
                   self.steps_per_scale, "must be non-negative")
            _check(later <= self.num_steps, "steps_per_scale", self.steps_per_scale,
                   f"gives the {self.scale_count - 1} scales after the coarsest {later} steps, "
                   f"more than --num_steps={self.num_steps}")

    # --- derived values -------------------------------------------------------------------------
    @property
    def resolved_style_layer_weights(self) -> tuple[float, ...]:
        """Per-layer style weights w_l when none were given: proportional to 1/N_l^2 and summing
        to 1 in the authors' formulation (their released code's weights), equal weights 1/L in
        the printed one (the paper's text)."""
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
        """The network's precision: ``precision`` with ``'auto'`` resolved for this machine
        (:func:`tf_nst.hardware.resolve_precision`)."""
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
        n = 1
        while n < 8 and self.image_size / self.scale_factor ** (n - 1) > AUTO_COARSEST:
            n += 1
        return n

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
            return tuple(1.0 / num_styles for _ in range(num_styles))
        if len(self.style_blend_weights) != num_styles:
            raise ConfigError(
                f"--style_blend_weights={','.join(map(str, self.style_blend_weights))}: needs one "
                f"weight per style image ({num_styles} given)")
        total = sum(self.style_blend_weights)
        return tuple(w / total for w in self.style_blend_weights)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


def _check(ok: bool, name: str, value: Any, what: str) -> None:
    if not ok:
        if isinstance(value, (tuple, list)):
            value = ",".join(map(str, value))
        raise ConfigError(f"--{name}={value}: {what}")


def groups() -> dict[str, Sequence[str]]:
    """Field names per flag group, in declaration order (for the README and ``--helpfull``)."""
    out: dict[str, list[str]] = {}
    for f in fields():
        out.setdefault(f.metadata.get("group", "other"), []).append(f.name)
    return out
