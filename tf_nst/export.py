"""Export the whole optimisation: a SavedModel for TF Serving and a TFLite model for devices.

Both graphs run what ``tf-nst`` runs for the same :class:`Config`, built by
:func:`tf_nst.builder.build`: the step function, optimiser and objective, over the same
coarse-to-fine schedule (:class:`GraphSchedule`), with the colour controls, blended styles, the
style-weight ramp and the stopping rule. What no graph can compute is refused at export time
(:func:`check_exportable`). docs/export.md gives the signatures and how to call them.

The SavedModel (:class:`ServingModule`) is stateless: each scale of a request is one
``tf.while_loop`` over the optimiser's state, only the image is differentiated, and request
limits are checked in the graph (``InvalidArgument``). The network's weights are its underlying
``tf.Variable`` s, tracked directly so that TF1 loaders find them. The TFLite model
(:class:`OnDeviceModule`) has a fixed size and keeps its state in resource variables between
calls; its gradients and resizing use builtin operators only (:mod:`tf_nst.tflite_ops`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import os
import shutil
import tempfile
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tf_nst import builder, color, images, layers, modes, stopping
from tf_nst.config import INIT_NAMED, Config, ConfigError
from tf_nst.features import FeatureExtractor
from tf_nst.objective import make_step
from tf_nst.inputs import check_large_enough, initial_image, initial_noise

SERVING_SIGNATURE = "serving_default"
TENSOR_SIGNATURE = "stylize_tensors"
LOSS_OUTPUTS = ("total", "content", "style", "tv")


class ExportError(RuntimeError):
    """The export cannot be written; ``str(err)`` is one line."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask for, checked in the graph: ``max_pixels`` bounds the optimised
    images (the decoded inputs are bounded by ``Config.max_pixels``)."""

    max_steps: int = 1000
    max_pixels: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_steps < 0:
            raise ConfigError(f"--max_steps={self.max_steps}: must be >= 0")
        if self.max_pixels <= 0:
            raise ConfigError(f"--max_output_pixels={self.max_pixels}: must be positive")


def check_exportable(config: Config, limits: Limits, mode: str = "saved_model") -> None:
    """:class:`ConfigError` (one line) if ``config`` cannot be baked into a model with these
    ``limits``: what no exported graph can compute, then the limits and the network's depth."""
    modes.check(mode, {"init_file": None if config.init in INIT_NAMED else f"--init={config.init}",
                       "tile_size": f"--tile_size={config.tile_size}" if config.tiling else None})
    if config.scales == 0:
        raise ConfigError("--scales=0: an exported model's scales are fixed when it is exported, "
                          "its image size comes with each request; give the number of --scales")
    if config.num_steps > limits.max_steps:
        raise ConfigError(f"--num_steps={config.num_steps}: the default cannot exceed "
                          f"--max_steps={limits.max_steps}")
    if config.image_size * config.image_size > limits.max_pixels:
        raise ConfigError(f"--image_size={config.image_size}: a square image of that size exceeds "
                          f"--max_output_pixels={limits.max_pixels}")
    coarsest = min(config.scale_sizes)  # the run's smallest images; requests check both sides
    for what, side in (("content", coarsest), ("style", config.style_side(coarsest))):
        check_large_enough(config, what, side, side)


def scaled_size(height: tf.Tensor, width: tf.Tensor, longest_side: tf.Tensor) -> tf.Tensor:
    """:func:`tf_nst.images.scaled_size` in TensorFlow ops: ``[height, width]`` int32 with the same
    aspect ratio and longest side ``longest_side`` (exact integer round-half-up)."""
    h, w, side = (tf.cast(v, tf.int64) for v in (height, width, longest_side))
    longer, shorter = tf.maximum(h, w), tf.minimum(h, w)
    scaled = tf.maximum(tf.constant(1, tf.int64), (2 * shorter * side + longer) // (2 * longer))
    size = tf.where(h >= w, tf.stack([side, scaled]), tf.stack([scaled, side]))
    return tf.cast(size, tf.int32)


def style_side(image_size: tf.Tensor, style_scale: float) -> tf.Tensor:
    """``max(1, round(image_size * style_scale))`` as the library computes it (half to even)."""
    side = tf.round(tf.cast(image_size, tf.float64) * style_scale)
    return tf.cast(tf.maximum(side, 1.0), tf.int32)


def _header_pixels(data: tf.Tensor) -> tf.Tensor:
    """Pixel count read from a PNG or JPEG header without decoding (0 for other formats)."""
    png = tf.equal(tf.strings.substr(data, 0, 8), b"\x89PNG\r\n\x1a\n")
    jpeg = tf.equal(tf.strings.substr(data, 0, 3), b"\xff\xd8\xff")

    def png_pixels():
        wh = tf.io.decode_raw(tf.strings.substr(data, 16, 8), tf.int32, little_endian=False)
        return tf.cast(wh[0], tf.int64) * tf.cast(wh[1], tf.int64)

    def jpeg_pixels():
        hw = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return hw[0] * hw[1]

    return tf.cond(png, png_pixels, lambda: tf.cond(jpeg, jpeg_pixels,
                                                    lambda: tf.constant(0, tf.int64)))


EXIF_SCAN_BYTES = 1 << 17  # the EXIF block is searched for in the first 128 KiB
_ORIENTATION_TAG = 0x0112


def _bytes_reader(data: tf.Tensor):
    """``(at, starts_with)`` over the first :data:`EXIF_SCAN_BYTES` bytes of ``data``: ``at(pos,
    n, big_endian)`` is the unsigned ``n``-byte integer at ``pos`` (int64; 0 past the end, so a
    truncated or corrupt file reads as zeros rather than failing), ``starts_with(pos, b"...")``."""
    raw = tf.io.decode_raw(tf.strings.substr(data, 0, EXIF_SCAN_BYTES), tf.uint8)
    raw = tf.cast(tf.concat([raw, tf.zeros([8], tf.uint8)], 0), tf.int64)
    last = tf.cast(tf.size(raw) - 1, tf.int64)

    def at(pos, n=1, big_endian=True):
        value = tf.zeros_like(tf.cast(pos, tf.int64))
        for k in range(n):
            index = tf.cast(pos, tf.int64) + (k if big_endian else n - 1 - k)
            byte = tf.gather(raw, tf.clip_by_value(index, 0, last))
            value = value * 256 + tf.where((index >= 0) & (index < last - 7), byte, 0)
        return value

    def starts_with(pos, text: bytes):
        return tf.reduce_all(tf.stack([tf.equal(at(pos + i), c) for i, c in enumerate(text)]))

    return at, starts_with


def exif_orientation(data: tf.Tensor) -> tf.Tensor:
    """The EXIF orientation (int32, 1 to 8) of JPEG (APP1) or PNG (eXIf) bytes; 1 when there is
    none or it cannot be read, as :func:`tf_nst.images.read_image` leaves such files as stored."""
    at, starts_with = _bytes_reader(data)
    png = starts_with(0, b"\x89PNG\r\n\x1a\n")
    jpeg = starts_with(0, b"\xff\xd8\xff")

    # Walk the segments (JPEG) or chunks (PNG) up to the image data; `tiff` = where the EXIF
    # block's TIFF header starts (0: not found).
    def segment(pos, tiff):
        jpeg_len, png_len = at(pos + 2, 2), at(pos, 4)
        jpeg_exif = tf.equal(at(pos + 1), 0xE1) & starts_with(pos + 4, b"Exif\0\0")
        png_exif = starts_with(pos + 4, b"eXIf")
        prefixed = starts_with(pos + 8, b"Exif\0\0")  # tolerated in eXIf, as Pillow does
        png_tiff = pos + tf.where(prefixed, tf.constant(14, tf.int64), 8)
        found = tf.where(png, tf.where(png_exif, png_tiff, 0), tf.where(jpeg_exif, pos + 10, 0))
        return tf.where(png, pos + 12 + png_len, pos + 2 + jpeg_len), found

    def more(pos, tiff):
        jpeg_go = tf.equal(at(pos), 0xFF) & ~tf.reduce_any(
            tf.equal(at(pos + 1), [0xDA, 0xD9, 0x00]))  # start of scan, end, not a marker
        png_go = ~starts_with(pos + 4, b"IDAT") & ~starts_with(pos + 4, b"IEND")
        return (tf.equal(tiff, 0) & (pos < EXIF_SCAN_BYTES)
                & tf.where(png, png_go, jpeg & jpeg_go))

    start = tf.where(png, tf.constant(8, tf.int64), 2)
    _, tiff = tf.while_loop(more, segment, (start, tf.constant(0, tf.int64)),
                            maximum_iterations=256)
    # TIFF header: byte order, then IFD0 (12-byte entries: tag, type, count, value).
    big = starts_with(tiff, b"MM\0*")
    little = starts_with(tiff, b"II*\0")

    def orientation(big_endian):
        ifd = tiff + at(tiff + 4, 4, big_endian)
        entries = ifd + 2 + 12 * tf.range(256, dtype=tf.int64)
        valid = tf.range(256, dtype=tf.int64) < at(ifd, 2, big_endian)
        match = valid & tf.equal(at(entries, 2, big_endian), _ORIENTATION_TAG)
        return tf.reduce_max(tf.where(match, at(entries + 8, 2, big_endian), 0))

    value = tf.where(tf.not_equal(tiff, 0) & big, orientation(True),
                     tf.where(tf.not_equal(tiff, 0) & little, orientation(False), 1))
    return tf.cast(tf.where((value >= 1) & (value <= 8), value, 1), tf.int32)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """``[H, W, C]`` stored pixels -> upright, for EXIF orientations 1 to 8 (as Pillow's
    ``ImageOps.exif_transpose``)."""
    t = lambda: tf.transpose(image, [1, 0, 2])  # noqa: E731
    branches = [
        lambda: image,                           # 1: upright
        lambda: tf.reverse(image, [1]),          # 2: mirrored
        lambda: tf.reverse(image, [0, 1]),       # 3: rotated 180
        lambda: tf.reverse(image, [0]),          # 4: flipped
        t,                                       # 5: transposed
        lambda: tf.reverse(t(), [1]),            # 6: stored rotated 90 counter-clockwise
        lambda: tf.reverse(t(), [0, 1]),         # 7: transversed
        lambda: tf.reverse(t(), [0]),            # 8: stored rotated 90 clockwise
    ]
    return tf.switch_case(orientation - 1, branches)


def decode(data: tf.Tensor, max_pixels: int, name: str) -> tf.Tensor:
    """Encoded image bytes -> ``[1, H, W, 3]`` float32 RGB in [0, 1], as the library reads files
    (upright by EXIF, grey replicated, transparency over white); at most ``max_pixels`` pixels,
    checked from a PNG/JPEG header before decoding."""
    data = _at_most(data, _header_pixels(data), max_pixels, name)
    image = tf.io.decode_image(data, channels=0, dtype=tf.float32, expand_animations=False)
    image = apply_orientation(image, exif_orientation(data))
    image = _at_most(image, _pixels(image), max_pixels, name)
    channels = tf.shape(image)[2]
    rgb = tf.cond(channels < 3, lambda: tf.tile(image[:, :, :1], [1, 1, 3]),
                  lambda: image[:, :, :3])
    alpha = tf.cond(tf.equal(channels % 2, 0), lambda: image[:, :, -1:],
                    lambda: tf.ones_like(image[:, :, :1]))
    rgb = rgb * alpha + (1.0 - alpha)
    return tf.ensure_shape(rgb, [None, None, 3])[None]


def _pixels(image: tf.Tensor) -> tf.Tensor:
    """Pixel count (int64) of an ``[H, W, C]`` image."""
    return tf.cast(tf.shape(image)[0], tf.int64) * tf.cast(tf.shape(image)[1], tf.int64)


def _at_most(tensor: tf.Tensor, pixels: tf.Tensor, max_pixels: int, name: str) -> tf.Tensor:
    """``tensor`` once ``pixels`` (an image's) is at most ``max_pixels``; else InvalidArgument."""
    check = tf.debugging.assert_less_equal(
        pixels, tf.constant(max_pixels, tf.int64), message=f"{name} image is too large (the "
        f"limit is {max_pixels:,} pixels, the exported --max_pixels)")
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """:func:`tf_nst.images.to_uint8` in TensorFlow ops (``round(clip(x, 0, 1) * 255)``)."""
    return tf.cast(tf.floor(tf.clip_by_value(image, 0.0, 1.0) * 255.0 + 0.5), tf.uint8)


def scale_sides(config: Config, image_size: tf.Tensor) -> list[tf.Tensor]:
    """:attr:`Config.scale_sizes` for a requested ``image_size``: scale k of n has the longest side
    ``max(1, round(image_size / scale_factor^(n-1-k)))`` (half to even), the last ``image_size``."""
    n, size = config.scales, tf.cast(image_size, tf.float64)
    return [tf.cast(tf.maximum(tf.round(size / config.scale_factor ** (n - 1 - k)), 1.0), tf.int32)
            for k in range(n - 1)] + [tf.cast(image_size, tf.int32)]


def scale_steps(config: Config, num_steps: tf.Tensor) -> list[tf.Tensor]:
    """:attr:`Config.scale_steps` for a requested ``num_steps``: split evenly, the remainder to the
    finest scale, or the exported ``--steps_per_scale``."""
    if config.steps_per_scale:
        return [tf.constant(n, tf.int32) for n in config.steps_per_scale]
    even = num_steps // config.scales
    return [even] * (config.scales - 1) + [num_steps - even * (config.scales - 1)]


def run_steps(step, state, targets, weights, num_steps: tf.Tensor,
              maximum_iterations: int | None = None, rule=None, config: Config | None = None):
    """``num_steps`` steps of ``step`` from ``state`` in one ``tf.while_loop`` (shapes relaxed to
    their ranks unless all are static, as in the fixed-size TFLite model); ``(state, rule)``.
    With a :class:`~tf_nst.stopping.RuleState` ``rule``, the loop also ends where
    :func:`tf_nst.stopping.judge` with ``config``'s tolerance stops the run."""
    def body(i, state, *rule):
        state, terms = step(state, targets, weights)
        return (i + 1, state, *(stopping.judge(r, terms["total"], config.stop_tolerance,
                                               config.style_ramp_steps) for r in rule))

    def more(i, state, *rule):
        if not rule:
            return i < num_steps
        return (i < num_steps) & tf.logical_not(tf.reduce_all(rule[0].stopped_at > 0))

    loop = (tf.constant(0), state) + (() if rule is None else (rule,))
    static = all(t.shape.is_fully_defined() for t in tf.nest.flatten(state))
    invariants = None if static else tf.nest.map_structure(  # image sizes vary per request
        lambda t: tf.TensorShape([None] * t.shape.rank), loop)
    _, state, *rule = tf.while_loop(more, body, loop, shape_invariants=invariants,
                                    maximum_iterations=maximum_iterations)
    return state, (rule[0] if rule else None)


class Plan(NamedTuple):
    """Where a run's scales are: each scale's output size, its styles' sizes (one per style), and
    the step count at which it ends."""

    sizes: list
    style_sizes: list
    ends: list


class GraphSchedule:
    """The schedule of :class:`~tf_nst.transfer.StyleTransfer` in graph ops, which both exports
    run: each scale's inputs and targets, its share of the steps, and its start from the
    upsampled result of the scale before; ``--original_colors`` on the result."""

    def __init__(self, config: Config, parts: builder.RunParts, resize=images.resize_image,
                 max_steps: int | None = None) -> None:
        self.config, self.objective, self.optimizer = config, parts.objective, parts.optimizer
        self.weights, self.resize, self.max_steps = parts.weights, resize, max_steps
        self.step = make_step(parts.objective, parts.optimizer)

    def start(self, plan: Plan, content, styles: list, seed, noise=None) -> list:
        """``(state, targets)`` of each scale: the first at its starting point, the others at
        zeros until :meth:`advance` starts them."""
        config, scales = self.config, []
        for k, (size, style_sizes) in enumerate(zip(plan.sizes, plan.style_sizes)):
            # As StyleTransfer prepares each scale: resized from the inputs, each style then
            # given the content's colours (--color_transfer) before the targets are taken.
            scaled = self.resize(content, size)
            scaled_styles = [color.match_color(self.resize(s, ss), scaled, config.color_transfer)
                             for s, ss in zip(styles, style_sizes)]
            start = tf.zeros_like(scaled)
            if k == 0:
                init, first = config.init, scaled
                if init == "style":  # resized here, with the schedule's resize
                    init, first = "content", self.resize(scaled_styles[0], size)
                start = initial_image(init, first, None, config.noise_ratio, seed, noise=noise)
            scales.append((self.optimizer.init(start),
                           self.objective.targets(scaled, scaled_styles)))
        if config.stop_tolerance > 0:  # the stopping rule's state, at the finest scale
            scales[-1] += (stopping.start(1),)
        return scales

    def advance(self, plan: Plan, scales: list, before, after, steps: bool = True) -> list:
        """Steps ``before`` to ``after`` of the schedule: each scale's share of them, and the start
        of each scale whose first step falls in that span. ``before=-1`` is the run's start, where
        scales of no steps are passed at once."""
        scales, starts = list(scales), [0] + plan.ends[:-1]
        for k, (state, targets, *rule) in enumerate(scales):
            if steps:
                end = plan.ends[k] if k + 1 < len(scales) else after  # the last scale goes on
                count = tf.maximum(tf.minimum(after, end) - tf.maximum(before, starts[k]), 0)
                state, rule = run_steps(self.step, state, targets, self.weights, count,
                                        self.max_steps, *rule, config=self.config)
                scales[k] = (state, targets) + (() if rule is None else (rule,))
            if k + 1 < len(scales):
                reached = (before < plan.ends[k]) & (plan.ends[k] <= after)
                start = self.optimizer.init(self.resize(self.optimizer.image(state),
                                                        plan.sizes[k + 1]))
                following = tf.nest.map_structure(lambda a, b: tf.where(reached, a, b), start,
                                                  scales[k + 1][0])
                scales[k + 1] = (following, *scales[k + 1][1:])
        return scales

    def result(self, plan: Plan, scales: list, k: int, content) -> tuple[tf.Tensor, dict]:
        """``StyleTransfer.image`` at scale ``k`` (with the content's chroma under
        ``--original_colors``) and its loss terms."""
        state, targets = scales[k][:2]
        image = self.optimizer.image(state)
        if self.config.original_colors:
            image = color.original_colors(image, self.resize(content, plan.sizes[k]))
        return image, self.objective.loss_terms(image, targets, self.weights)


def style_names(config: Config) -> list[str]:
    """The style inputs: ``style``, then ``style_2``, ``style_3`` ... one per blended style."""
    return ["style"] + [f"style_{i}" for i in range(2, len(config.style_blend_weights) + 1)]


REQUEST_SCALARS = {"num_steps": tf.int32, "content_weight": tf.float32, "style_weight": tf.float32,
                   "tv_weight": tf.float32, "image_size": tf.int32, "seed": tf.int64}


def named_function(body, specs: dict[str, tf.TensorSpec], defaults: dict | None = None):
    """``body(**inputs)`` as a ``tf.function`` with one named input per spec, in their order.

    Inputs with a default are optional: tensor defaults of the Python signature are recorded in
    the SignatureDef's ``defaults`` (placeholder_with_default in TF1 graphs), so TF Serving and
    TF1 sessions may omit them.
    """
    defaults, param = defaults or {}, inspect.Parameter
    signature = inspect.Signature([param(n, param.POSITIONAL_OR_KEYWORD,
                                         default=defaults.get(n, param.empty)) for n in specs])

    def function(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return body(**bound.arguments)

    function.__signature__ = signature
    return tf.function(function, input_signature=[tf.TensorSpec(s.shape, s.dtype, name=n)
                                                  for n, s in specs.items()])


def request_function(config: Config, body, image_spec: tf.TensorSpec):
    """``body(content, styles, scalars)`` as a signature function: the image inputs (``content``
    and :func:`style_names`) and the optional :data:`REQUEST_SCALARS`, whose defaults are the
    config's."""
    names = style_names(config)
    specs = {n: image_spec for n in ["content", *names]}
    specs.update({n: tf.TensorSpec([], dtype) for n, dtype in REQUEST_SCALARS.items()})
    defaults = {n: tf.constant(getattr(config, n), dtype) for n, dtype in REQUEST_SCALARS.items()}
    return named_function(lambda content, **rest: body(
        content, [rest[n] for n in names], {n: rest[n] for n in REQUEST_SCALARS}), specs, defaults)


class ServedOptimisation:
    """What one request computes: its checks, then the :class:`GraphSchedule` of the request's
    sizes, steps and weights."""

    def __init__(self, config: Config, limits: Limits, extractor: FeatureExtractor) -> None:
        self.config, self.limits = config, limits
        # The kernels are prepared from the saved variables at each step (no second copy saved);
        # preparing them once per request made concurrent requests of a loaded model fail
        # (AlreadyExistsError on a Grappler temporary variable).
        self.parts = builder.build(config, len(style_names(config)),
                                   extractor=extractor.preparing_each_call())

    def __call__(self, content, styles, scalars) -> tuple[tf.Tensor, dict]:
        """``[H, W, 3]`` result of one request, and its losses (with its weights) and size."""
        plan = self.plan(content, styles, scalars)
        weights = self.parts.weights._replace(
            content=scalars["content_weight"], style=scalars["style_weight"],
            tv=scalars["tv_weight"])
        schedule = GraphSchedule(self.config, self.parts._replace(weights=weights),
                                 max_steps=self.limits.max_steps)
        scales = schedule.start(plan, content, styles, scalars["seed"])
        scales = schedule.advance(plan, scales, -1, plan.ends[-1])
        image, terms = schedule.result(plan, scales, -1, content)
        finite = tf.debugging.assert_all_finite(
            image, message="the optimisation diverged (NaN pixels); lower the weights")
        with tf.control_dependencies([finite]):
            image = tf.ensure_shape(tf.identity(image[0]), [None, None, 3])
        out = {f"{k}_loss": terms[k][0] for k in LOSS_OUTPUTS}
        out["height"], out["width"] = tf.shape(image)[0], tf.shape(image)[1]
        return image, out

    def plan(self, content, styles, scalars) -> Plan:
        """The request's :class:`Plan`, after its checks (``InvalidArgument`` with a message)."""
        config, limits = self.config, self.limits
        num_steps, image_size = scalars["num_steps"], scalars["image_size"]
        checks = [
            tf.debugging.assert_non_negative(num_steps, message="num_steps must be >= 0"),
            tf.debugging.assert_less_equal(
                num_steps, limits.max_steps,
                message=f"num_steps is above the limit of this server: {limits.max_steps}"),
            tf.debugging.assert_positive(image_size, message="image_size must be positive")]
        if config.steps_per_scale:
            checks.append(tf.debugging.assert_equal(num_steps, config.num_steps, message=(
                f"num_steps must be {config.num_steps}: the export's --steps_per_scale fix the "
                "steps of each scale")))
        for name in ("content_weight", "style_weight", "tv_weight"):
            message = f"{name} must be a finite non-negative number"
            checks += [tf.debugging.assert_non_negative(scalars[name], message=message),
                       tf.debugging.assert_all_finite(scalars[name], message=message)]
        with tf.control_dependencies(checks):
            sides = scale_sides(config, tf.identity(image_size))
        sizes = [[scaled_size(tf.shape(x)[1], tf.shape(x)[2], side if i == 0 else style_side(
            side, config.style_scale)) for i, x in enumerate([content, *styles])] for side in sides]
        with tf.control_dependencies(self._size_checks(sizes[0], sizes[-1])):
            sizes = tf.nest.map_structure(tf.identity, sizes)
        ends = list(itertools.accumulate(scale_steps(config, num_steps)))
        return Plan([s[0] for s in sizes], [s[1:] for s in sizes], ends)

    def _size_checks(self, coarsest: list, finest: list) -> list:
        """Pixel limits at the finest scale; at the coarsest, the deepest layer's least size (as
        :func:`tf_nst.inputs.check_large_enough` checks the run's smallest images)."""
        limit, config = self.limits.max_pixels, self.config
        deepest = layers.deepest(config.content_layers + config.style_layers)
        needed = layers.smallest_side(deepest)
        checks = []
        for what, small, large in zip(["output", *style_names(config)], coarsest, finest):
            checks += [
                tf.debugging.assert_less_equal(
                    tf.reduce_prod(tf.cast(large, tf.int64)), tf.constant(limit, tf.int64),
                    message=f"{what} image at this image_size has more pixels than the limit of "
                            f"this server: {limit:,} (--max_output_pixels); lower image_size"),
                tf.debugging.assert_greater_equal(
                    tf.reduce_min(small), needed,
                    message=f"{what} image at this image_size is too small for "
                            f"{layers.paper_name(deepest)}, which needs at least {needed} px on "
                            "each side; raise image_size")]
        return checks


class ServingModule(tf.Module):
    """The whole optimisation as a stateless SavedModel (see the module docstring)."""

    def __init__(self, config: Config, limits: Limits = Limits(),
                 extractor: FeatureExtractor | None = None) -> None:
        super().__init__(name="tf_nst")
        check_exportable(config, limits)
        self.config, self.limits = config, limits
        extractor = extractor or builder.extractor_for(config)
        # The underlying tf.Variables, tracked directly: saved once, found by TF1 loaders.
        self.vgg_variables = list(extractor.variables)
        optimise = ServedOptimisation(config, limits, extractor)
        names = style_names(config)

        def stylize(content, styles, scalars):
            image, out = optimise(
                decode(content, config.max_pixels, "content"),
                [decode(s, config.max_pixels, n) for s, n in zip(styles, names)], scalars)
            out["png_bytes"] = tf.io.encode_png(to_uint8(image))
            return out

        def stylize_tensors(content, styles, scalars):
            def read(x, name):
                return _at_most(tf.clip_by_value(x, 0.0, 1.0), _pixels(x), config.max_pixels,
                                name)[None]

            image, out = optimise(read(content, "content"),
                                  [read(s, n) for s, n in zip(styles, names)], scalars)
            out["image"], out["image_uint8"] = image, to_uint8(image)
            return out

        self.stylize = request_function(config, stylize, tf.TensorSpec([], tf.string))
        self.stylize_tensors = request_function(config, stylize_tensors,
                                                tf.TensorSpec([None, None, 3], tf.float32))

    def signatures(self) -> dict[str, Any]:
        return {SERVING_SIGNATURE: self.stylize, TENSOR_SIGNATURE: self.stylize_tensors}


def _fresh_target(path: str, overwrite: bool) -> None:
    if os.path.lexists(path) and not overwrite:
        raise ExportError(f"{path}: already exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{parent}: directory is not writable")


def _usual_permissions(path: str) -> None:
    """Give the directory ``path`` and everything in it the permissions newly created files get:
    ``tempfile`` makes its directories private (0700), and a model server may run as another
    user."""
    mask = images.current_umask()
    for folder, _, files in os.walk(path):
        os.chmod(folder, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o666 & ~mask)


def export_saved_model(config: Config, path: str, limits: Limits = Limits(),
                       overwrite: bool = False) -> str:
    """Write the SavedModel to ``path`` (e.g. ``export_dir/1`` for TF Serving) atomically."""
    path = os.path.abspath(path)
    _fresh_target(path, overwrite)
    module = ServingModule(config, limits)
    temp = tempfile.mkdtemp(prefix=".tf_nst_export.", dir=os.path.dirname(path))
    try:
        tf.saved_model.save(module, temp, signatures=module.signatures())
        _usual_permissions(temp)
        if os.path.lexists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        os.replace(temp, path)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return path


def lite_config(config: Config) -> Config:
    """``config`` as the TFLite model computes it (float32), or :class:`ConfigError` (one line) for
    what TFLite's builtin operators cannot compute."""
    check_exportable(config, Limits(max_steps=max(config.num_steps, 1)), "tflite")
    if config.precision == "auto":  # TFLite's builtins compute in float32
        config = config.replace(precision="float32")
    modes.check("tflite", {
        "mixed_bfloat16": (None if config.precision == "float32"
                           else f"--precision={config.precision}"),
        "color_transfer": "--color_transfer=histogram" if config.color_transfer == "histogram"
        else None})
    return config


def _select(index: tf.Tensor, branches: list, k: int = 0):
    """``branches[index]()`` as nested ``tf.cond`` (TFLite's IF)."""
    if k == len(branches) - 1:
        return branches[k]()
    return tf.cond(tf.equal(index, k), branches[k], lambda: _select(index, branches, k + 1))


class DeviceSchedule:
    """The :class:`GraphSchedule` of a fixed-size model whose state (each scale's optimiser state
    and targets, the steps done) persists between calls in resource variables."""

    def __init__(self, config: Config, parts: builder.RunParts) -> None:
        from tf_nst import tflite_ops

        self.config = config
        self.schedule = GraphSchedule(config, parts, tflite_ops.resize)
        styles = len(style_names(config))
        self.plan = Plan([(s, s) for s in config.scale_sizes],
                         [[(t, t)] * styles for t in map(config.style_side, config.scale_sizes)],
                         list(itertools.accumulate(config.scale_steps)))
        self.content_shape = [1, *self.plan.sizes[-1], 3]
        self.style_shape = [1, *self.plan.style_sizes[-1][0], 3]
        # Baked in when used: TFLite has no stateless random operators.
        self.noise = (tf.constant(initial_noise([1, *self.plan.sizes[0], 3], config.seed))
                      if config.init == "noise" or config.noise_ratio > 0 else None)
        self.blanks = self.schedule.start(self.plan, tf.zeros(self.content_shape),
                                          [tf.zeros(self.style_shape)] * styles, config.seed,
                                          self.noise)
        self.variables = [[tf.Variable(t, trainable=False) for t in tf.nest.flatten(blank)]
                          for blank in self.blanks]
        self.content = tf.Variable(tf.zeros(self.content_shape), trainable=False)
        self.steps_done = tf.Variable(0, trainable=False)

    def _read(self) -> list:
        return [tf.nest.pack_sequence_as(blank, [v.read_value() for v in variables])
                for blank, variables in zip(self.blanks, self.variables)]

    def _write(self, scales: list, steps_done) -> None:
        for variables, scale in zip(self.variables, scales):
            for var, value in zip(variables, tf.nest.flatten(scale)):
                var.assign(value)
        self.steps_done.assign(steps_done)

    def set_images(self, content: tf.Tensor, styles: list) -> dict:
        """Targets of every scale and the first scale's starting point; its image and losses."""
        scales = self.schedule.start(self.plan, content, styles, self.config.seed, self.noise)
        scales = self.schedule.advance(self.plan, scales, -1, 0, steps=False)
        self.content.assign(content)
        self._write(scales, 0)
        return self._report(scales, 0, content)

    def run(self, num_steps: tf.Tensor) -> dict:
        """``num_steps`` more steps of the schedule; the image and its losses."""
        done = self.steps_done.read_value()
        scales = self.schedule.advance(self.plan, self._read(), done, done + num_steps)
        self._write(scales, done + num_steps)
        return self._report(scales, done + num_steps, self.content.read_value())

    def get_image(self) -> dict:
        return self._report(self._read(), self.steps_done.read_value(), self.content.read_value())

    def _report(self, scales: list, steps_done, content) -> dict:
        """The current scale's image, resized to the output's size, and its losses."""
        def report(k):
            image, terms = self.schedule.result(self.plan, scales, k, content)
            out = {f"{key}_loss": terms[key][0] for key in LOSS_OUTPUTS}
            out["image"] = self.schedule.resize(image, self.plan.sizes[-1])
            return out

        current = sum(tf.cast(steps_done >= end, tf.int32) for end in self.plan.ends[:-1])
        return _select(current, [functools.partial(report, k) for k in range(len(scales))])


class OnDeviceModule(tf.Module):
    """A fixed-size on-device optimisation with its state in resource variables; its signatures
    (every input required: TFLite has no defaults):

    * ``set_images(content [1, S, S, 3], style [1, T, T, 3], style_2 ...)``, S = ``image_size``,
      T = ``round(S * style_scale)``: the targets, and the image reset to its start;
    * ``run(num_steps)``: ``num_steps`` more steps of the schedule;
    * ``get_image()``; each returns the image and its losses.
    """

    def __init__(self, config: Config, extractor: FeatureExtractor | None = None) -> None:
        super().__init__(name="tf_nst_lite")
        from tf_nst import tflite_ops

        config = lite_config(config)
        extractor = extractor or builder.extractor_for(config)
        # Copies of the weights that set_images rewrites (with their own values): the converter
        # then keeps them as resource variables stored once, instead of freezing them into
        # constants and folding a second, transposed copy for the gradient's convolutions.
        self.vgg_variables = [tf.Variable(v.read_value(), trainable=False)
                              for v in extractor.variables]
        builtin = tflite_ops.BuiltinFeatureExtractor(extractor, self.vgg_variables)
        device = DeviceSchedule(config, builder.build(
            config, len(style_names(config)), extractor=builtin, builtin_ops=True))
        self.state_variables = [device.variables, device.content, device.steps_done]
        self.content_shape, self.style_shape = device.content_shape, device.style_shape
        names = style_names(config)

        def set_images(content, **styles):
            for var in self.vgg_variables:
                var.assign(var.read_value())
            return device.set_images(content, [styles[n] for n in names])

        self.set_images = named_function(set_images, {
            "content": tf.TensorSpec(self.content_shape, tf.float32),
            **{n: tf.TensorSpec(self.style_shape, tf.float32) for n in names}})
        self.run = named_function(device.run, {"num_steps": tf.TensorSpec([], tf.int32)})
        self.get_image = tf.function(device.get_image, input_signature=[])

    def signatures(self) -> dict[str, Any]:
        return {"set_images": self.set_images, "run": self.run, "get_image": self.get_image}


def convert_tflite(config: Config, weights: str = "float32") -> bytes:
    """The ``.tflite`` flatbuffer of :class:`OnDeviceModule` (builtin operators only).

    ``weights="float16"`` stores the network's weights, and nothing else, in half precision (see
    :func:`weights_to_float16`); the computation stays float32.
    """
    if weights not in ("float32", "float16"):
        raise ConfigError(f"--tflite_weights={weights}: must be float32 or float16")
    module = OnDeviceModule(config)
    with tempfile.TemporaryDirectory(prefix="tf_nst_lite.") as temp:
        tf.saved_model.save(module, temp, signatures=module.signatures())
        converter = tf.lite.TFLiteConverter.from_saved_model(
            temp, signature_keys=list(module.signatures()))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.experimental_enable_resource_variables = True
        model = converter.convert()
    if weights == "float16":
        model = weights_to_float16(model, [v.numpy() for v in module.vgg_variables])
    return model


def weights_to_float16(model: bytes, weights: list) -> bytes:
    """Store the constants of ``model`` whose float32 bytes are one of ``weights`` in float16,
    each read through a DEQUANTIZE (float16 -> float32) operator.

    The converter's own float16 mode (``Optimize.DEFAULT`` with ``supported_types=[float16]``)
    cannot be used: it rounds *every* float constant, and constant folding has turned the
    normalisations and hyper-parameters of the objective into scalars that half precision cannot
    hold: 1 / (4 N^2 M^2) of the style loss (~1e-11) becomes 0, which zeroes the style loss, and
    Adam's beta_2 = 0.999 becomes 0.99902. Here only the network's weights are rounded.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    lite = flatbuffer_utils.convert_bytearray_to_object(model)
    wanted = {np.asarray(w, np.float32).tobytes() for w in weights}
    codes = [c.builtinCode for c in lite.operatorCodes]
    if schema.BuiltinOperator.DEQUANTIZE not in codes:
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
        code.version = 3  # float16 input
        lite.operatorCodes.append(code)
        codes.append(code.builtinCode)
    dequantize = codes.index(schema.BuiltinOperator.DEQUANTIZE)
    found = 0
    for graph in lite.subgraphs:
        for index, tensor in enumerate(list(graph.tensors)):
            data = lite.buffers[tensor.buffer].data if tensor.buffer else None
            if (tensor.type != schema.TensorType.FLOAT32 or data is None
                    or bytes(data) not in wanted):
                continue
            half = schema.BufferT()
            half.data = np.frombuffer(bytes(data), np.float32).astype(np.float16).view(np.uint8)
            lite.buffers[tensor.buffer].data = None
            lite.buffers.append(half)
            stored = schema.TensorT()
            stored.name = tensor.name + b"_float16"
            stored.shape, stored.type = tensor.shape, schema.TensorType.FLOAT16
            stored.buffer = len(lite.buffers) - 1
            graph.tensors.append(stored)
            tensor.buffer = 0  # now computed, by:
            op = schema.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = dequantize, [len(graph.tensors) - 1], [index]
            graph.operators.insert(0, op)
            found += 1
    if found < len(wanted):
        raise ExportError(f"float16 weights: found {found} of the {len(wanted)} weight tensors "
                          "in the converted model")
    return flatbuffer_utils.convert_object_to_bytearray(lite)


def export_tflite(config: Config, path: str, weights: str = "float32",
                  overwrite: bool = False) -> str:
    """Write the ``.tflite`` model to ``path`` atomically."""
    path = os.path.abspath(path)
    _fresh_target(path, overwrite)
    model = convert_tflite(config, weights)
    try:
        images.write_atomically(path, lambda f: f.write(model))
    except images.ImageError as err:
        raise ExportError(str(err)) from None
    return path
