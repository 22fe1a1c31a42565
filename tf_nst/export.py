"""Export the whole optimisation: a SavedModel for TF Serving and a TFLite model for devices.

The exported graphs run the library's own step function (:func:`tf_nst.objective.make_step`) with
the library's optimisers, objective and resizing, so an exported model computes what
``tf-nst``/:class:`~tf_nst.transfer.StyleTransfer` computes with the same :class:`Config`.

SavedModel (:class:`ServingModule`, :func:`export_saved_model`):

* ``serving_default``: ``content``, ``style`` (encoded image bytes: JPEG, PNG, GIF, BMP) and the
  optional scalars ``num_steps``, ``content_weight``, ``style_weight``, ``tv_weight``,
  ``image_size``, ``seed`` whose defaults are the export's :class:`Config` (recorded in the
  SignatureDef's ``defaults``, so TF Serving and TF1 sessions accept requests that omit them).
  Outputs: ``png_bytes`` (TF Serving's REST API base64-encodes outputs named ``*_bytes``), the
  final ``total_loss``, ``content_loss``, ``style_loss``, ``tv_loss``, and ``height``/``width``.
* ``stylize_tensors``: the same with float32 ``[H, W, 3]`` RGB images in [0, 1]; outputs ``image``
  (float32) and ``image_uint8`` plus the losses.

The optimisation is one ``tf.while_loop`` whose loop variables are the optimiser's state, so a
request keeps nothing between calls and concurrent requests are independent. Only the image is
differentiated: the graph computes no gradient with respect to the network's weights. The weights
are the extractor's underlying ``tf.Variable`` s, tracked directly and saved once. Request limits
(steps, pixels, weights) are checked in the graph and fail with ``InvalidArgument``.

TFLite (:class:`OnDeviceModule`, :func:`export_tflite`): a fixed-size model with the signatures
``set_images``, ``run`` and ``get_image``; its state lives in resource variables of the
interpreter. Gradients use :mod:`tf_nst.tflite_ops` so that only builtin operators are needed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Any

import tensorflow as tf

from tf_nst import images, layers, optimizers
from tf_nst.config import INIT_NAMED, Config, ConfigError
from tf_nst.features import FeatureExtractor
from tf_nst.objective import LossWeights, Objective, make_step
from tf_nst.transfer import check_large_enough, extractor_for, initial_image, initial_noise

SERVING_SIGNATURE = "serving_default"
TENSOR_SIGNATURE = "stylize_tensors"
LOSS_OUTPUTS = ("total", "content", "style", "tv")


class ExportError(RuntimeError):
    """The export cannot be written; ``str(err)`` is one line."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask for; checked in the graph (``InvalidArgument`` otherwise).

    ``max_pixels`` bounds the optimised image (content and style after resizing), which sets the
    memory and time of a request; the decoded inputs are bounded by ``Config.max_pixels``.
    """

    max_steps: int = 1000
    max_pixels: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_steps < 0:
            raise ConfigError(f"--max_steps={self.max_steps}: must be >= 0")
        if self.max_pixels <= 0:
            raise ConfigError(f"--max_output_pixels={self.max_pixels}: must be positive")


def check_exportable(config: Config, limits: Limits) -> None:
    """:class:`ConfigError` if ``config`` cannot be baked into a model with these ``limits``."""
    if config.init not in INIT_NAMED:
        raise ConfigError(f"--init={config.init}: an exported model starts from content, noise or "
                          "style, not from an image file")
    if config.tiling:
        raise ConfigError(f"--tile_size={config.tile_size}: an exported model optimises the whole "
                          "image; tiling is not exported (use --tile_size=0)")
    if config.num_steps > limits.max_steps:
        raise ConfigError(f"--num_steps={config.num_steps}: the default cannot exceed "
                          f"--max_steps={limits.max_steps}")
    if config.image_size * config.image_size > limits.max_pixels:
        raise ConfigError(f"--image_size={config.image_size}: a square image of that size exceeds "
                          f"--max_output_pixels={limits.max_pixels}")
    for what, side in (("content", config.image_size), ("style", config.style_side())):
        check_large_enough(config, what, side, side)  # the longer side; requests check both


# --------------------------------------------------------------------------------------------------
# Graph pieces shared by the signatures
# --------------------------------------------------------------------------------------------------
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

    zero = lambda: tf.constant(0, tf.int64)  # noqa: E731
    return tf.cond(png, png_pixels, lambda: tf.cond(jpeg, jpeg_pixels, zero))


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
    """Encoded image bytes -> ``[1, H, W, 3]`` float32 RGB in [0, 1], as the library reads files:
    the EXIF orientation is applied (JPEG and PNG), grey is replicated, transparency is
    composited over white; at most ``max_pixels`` pixels
    (checked from the PNG/JPEG header before decoding, and after decoding for other formats)."""
    limit = tf.constant(max_pixels, tf.int64)
    message = (f"{name} image is too large (the limit is {max_pixels:,} decoded pixels, the "
               "exported --max_pixels)")
    check = tf.debugging.assert_less_equal(_header_pixels(data), limit, message=message)
    with tf.control_dependencies([check]):
        data = tf.identity(data)
    image = tf.io.decode_image(data, channels=0, dtype=tf.float32, expand_animations=False)
    image = apply_orientation(image, exif_orientation(data))
    shape = tf.shape(image)
    pixels = tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64)
    check = tf.debugging.assert_less_equal(pixels, limit, message=message)
    with tf.control_dependencies([check]):
        image = tf.identity(image)
    channels = shape[2]
    rgb = tf.cond(channels < 3, lambda: tf.tile(image[:, :, :1], [1, 1, 3]),
                  lambda: image[:, :, :3])
    alpha = tf.cond(tf.equal(channels % 2, 0), lambda: image[:, :, -1:],
                    lambda: tf.ones_like(image[:, :, :1]))
    rgb = rgb * alpha + (1.0 - alpha)
    return tf.ensure_shape(rgb, [None, None, 3])[None]


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """:func:`tf_nst.images.to_uint8` in TensorFlow ops (``round(clip(x, 0, 1) * 255)``)."""
    return tf.cast(tf.floor(tf.clip_by_value(image, 0.0, 1.0) * 255.0 + 0.5), tf.uint8)


def _relaxed(structure: Any) -> Any:
    """Shape invariants keeping only the ranks (image sizes vary per request)."""
    return tf.nest.map_structure(lambda t: tf.TensorShape([None] * t.shape.rank), structure)


# --------------------------------------------------------------------------------------------------
# SavedModel
# --------------------------------------------------------------------------------------------------
class ServingModule(tf.Module):
    """The whole optimisation as a stateless SavedModel (see the module docstring)."""

    def __init__(self, config: Config, limits: Limits = Limits(),
                 extractor: FeatureExtractor | None = None) -> None:
        super().__init__(name="tf_nst")
        check_exportable(config, limits)
        self.config, self.limits = config, limits
        extractor = extractor or extractor_for(config)
        # The underlying tf.Variables, tracked directly: saved once, found by TF1 loaders.
        self.vgg_variables = list(extractor.variables)
        optimizer = optimizers.from_config(config)

        # The kernels are prepared from the saved variables at each step (no second copy saved).
        # Preparing them once per request, before the loop, made concurrent requests of a loaded
        # model fail in one test run (AlreadyExistsError on a Grappler temporary variable).
        objective = Objective.from_config(extractor.preparing_each_call(), config)
        step = make_step(objective, optimizer)

        def optimise(content, style, num_steps, content_weight, style_weight, tv_weight,
                     image_size, seed):
            checks = [
                tf.debugging.assert_non_negative(num_steps, message="num_steps must be >= 0"),
                tf.debugging.assert_less_equal(
                    num_steps, limits.max_steps,
                    message=f"num_steps is above the limit of this server: {limits.max_steps}"),
                tf.debugging.assert_positive(image_size, message="image_size must be positive"),
            ]
            for name, value in (("content_weight", content_weight),
                                ("style_weight", style_weight), ("tv_weight", tv_weight)):
                checks.append(tf.debugging.assert_non_negative(
                    value, message=f"{name} must be a finite non-negative number"))
                checks.append(tf.debugging.assert_all_finite(
                    value, message=f"{name} must be a finite non-negative number"))
            with tf.control_dependencies(checks):
                image_size = tf.identity(image_size)
            content_size = scaled_size(tf.shape(content)[1], tf.shape(content)[2], image_size)
            style_size = scaled_size(tf.shape(style)[1], tf.shape(style)[2],
                                     style_side(image_size, config.style_scale))
            limit = tf.constant(limits.max_pixels, tf.int64)
            pixel_checks = [
                tf.debugging.assert_less_equal(
                    tf.reduce_prod(tf.cast(size, tf.int64)), limit,
                    message=f"{what} image at this image_size has more pixels than the limit of "
                            f"this server: {limits.max_pixels:,} (--max_output_pixels); lower "
                            "image_size")
                for what, size in (("output", content_size), ("style", style_size))]
            deepest = layers.deepest(config.content_layers + config.style_layers)
            needed = layers.smallest_side(deepest)
            pixel_checks += [
                tf.debugging.assert_greater_equal(
                    tf.reduce_min(size), needed,
                    message=f"{what} image at this image_size is too small for "
                            f"{layers.paper_name(deepest)}, which needs at least {needed} px on "
                            "each side; raise image_size")
                for what, size in (("output", content_size), ("style", style_size))]
            with tf.control_dependencies(pixel_checks):
                content_size = tf.identity(content_size)
                style_size = tf.identity(style_size)
            content = images.resize_image(content, content_size)
            style = images.resize_image(style, style_size)
            targets = objective.targets(content, style)
            # The config's weights for the one style image a request has, with the request's
            # alpha, beta and TV weight.
            weights = LossWeights.from_config(config.replace(style_blend_weights=()),
                                              num_styles=1)._replace(
                content=content_weight, style=style_weight, tv=tv_weight)
            start = initial_image(config.init, content, style, config.noise_ratio, seed)
            state = optimizer.init(start)

            def body(i, state):
                state, _ = step(state, targets, weights)
                return i + 1, state

            _, state = tf.while_loop(
                lambda i, state: i < num_steps, body, (tf.constant(0, tf.int32), state),
                shape_invariants=(tf.TensorShape([]), _relaxed(state)),
                maximum_iterations=limits.max_steps)
            image = optimizer.image(state)
            # Losses of the returned image (not of the last trial point of a line search).
            terms = objective.loss_terms(image, targets, weights)
            finite = tf.debugging.assert_all_finite(
                image, message="the optimisation diverged (NaN pixels); lower the weights")
            with tf.control_dependencies([finite]):
                image = tf.ensure_shape(tf.identity(image[0]), [None, None, 3])
            out = {f"{k}_loss": terms[k][0] for k in LOSS_OUTPUTS}
            out["height"] = tf.shape(image)[0]
            out["width"] = tf.shape(image)[1]
            return image, out

        d = config
        specs = dict(
            num_steps=tf.TensorSpec([], tf.int32, name="num_steps"),
            content_weight=tf.TensorSpec([], tf.float32, name="content_weight"),
            style_weight=tf.TensorSpec([], tf.float32, name="style_weight"),
            tv_weight=tf.TensorSpec([], tf.float32, name="tv_weight"),
            image_size=tf.TensorSpec([], tf.int32, name="image_size"),
            seed=tf.TensorSpec([], tf.int64, name="seed"))

        def with_request_defaults(body):
            """``body(content, style, *scalars)`` as a signature function whose scalar inputs
            default to the config's values. Tensor defaults in the Python signature are recorded
            in the SignatureDef's `defaults` (placeholder_with_default in the TF1 graph): TF
            Serving and sessions may omit them."""
            def signature(content, style,
                          num_steps=tf.constant(d.num_steps, tf.int32),
                          content_weight=tf.constant(d.content_weight, tf.float32),
                          style_weight=tf.constant(d.style_weight, tf.float32),
                          tv_weight=tf.constant(d.tv_weight, tf.float32),
                          image_size=tf.constant(d.image_size, tf.int32),
                          seed=tf.constant(d.seed, tf.int64)):
                return body(content, style, num_steps, content_weight, style_weight, tv_weight,
                            image_size, seed)
            return signature

        def stylize(content, style, *scalars):
            image, out = optimise(decode(content, d.max_pixels, "content"),
                                  decode(style, d.max_pixels, "style"), *scalars)
            out["png_bytes"] = tf.io.encode_png(to_uint8(image))
            return out

        def stylize_tensors(content, style, *scalars):
            def as_batch(x, name):
                x = tf.clip_by_value(x, 0.0, 1.0)[None]
                pixels = tf.cast(tf.shape(x)[1], tf.int64) * tf.cast(tf.shape(x)[2], tf.int64)
                check = tf.debugging.assert_less_equal(
                    pixels, tf.constant(d.max_pixels, tf.int64),
                    message=f"{name} image is too large (the limit is {d.max_pixels:,} pixels)")
                with tf.control_dependencies([check]):
                    return tf.identity(x)

            image, out = optimise(as_batch(content, "content"), as_batch(style, "style"), *scalars)
            out["image"] = image
            out["image_uint8"] = to_uint8(image)
            return out

        def image_pair(dtype, shape):
            return [tf.TensorSpec(shape, dtype, name="content"),
                    tf.TensorSpec(shape, dtype, name="style")]

        self.stylize = tf.function(with_request_defaults(stylize), input_signature=[
            *image_pair(tf.string, []), *specs.values()])
        self.stylize_tensors = tf.function(with_request_defaults(stylize_tensors), input_signature=[
            *image_pair(tf.float32, [None, None, 3]), *specs.values()])

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
    """Give ``path`` (a file, or a directory and everything in it) the permissions a newly created
    file gets, as ``open`` would: ``tempfile`` makes its files private (0600, 0700), and a model
    server may run as another user."""
    mask = images.current_umask()
    if os.path.isfile(path):
        os.chmod(path, 0o666 & ~mask)
        return
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


# --------------------------------------------------------------------------------------------------
# TFLite
# --------------------------------------------------------------------------------------------------
class OnDeviceModule(tf.Module):
    """A fixed-size on-device optimisation with its state in resource variables.

    Signatures (all inputs required, as TFLite has no defaults):

    * ``set_images(content [1, S, S, 3], style [1, T, T, 3])`` float32 RGB in [0, 1], with
      ``S = image_size`` and ``T = round(image_size * style_scale)``: computes the targets and
      resets the image to the starting point; returns its losses.
    * ``run(num_steps)``: runs ``num_steps`` optimisation steps; returns the image and its losses.
    * ``get_image()``: the current image and its losses.
    """

    def __init__(self, config: Config, extractor: FeatureExtractor | None = None) -> None:
        super().__init__(name="tf_nst_lite")
        from tf_nst import tflite_ops

        check_exportable(config, Limits(max_steps=max(config.num_steps, 1)))
        if config.precision == "auto":  # TFLite's builtins compute in float32
            config = config.replace(precision="float32")
        if config.precision != "float32":
            raise ConfigError(f"--precision={config.precision}: the TFLite export is float32")
        extractor = extractor or extractor_for(config)
        # Copies of the weights that set_images rewrites (with their own values): the converter
        # then keeps them as resource variables stored once, instead of freezing them into
        # constants and folding a second, transposed copy for the gradient's convolutions.
        self.vgg_variables = [tf.Variable(v.read_value(), trainable=False)
                              for v in extractor.variables]
        builtin = tflite_ops.BuiltinFeatureExtractor(extractor, self.vgg_variables)
        objective = Objective.from_config(builtin, config)
        optimizer = optimizers.from_config(config, builtin_ops=True)
        step = make_step(objective, optimizer)
        weights = LossWeights.from_config(config)
        side = config.image_size
        sside = config.style_side()
        self.content_shape, self.style_shape = [1, side, side, 3], [1, sside, sside, 3]

        zeros = tf.zeros(self.content_shape)
        # Baked in when used: TFLite has no stateless random operators.
        noise = (tf.constant(initial_noise(self.content_shape, config.seed))
                 if config.init == "noise" or config.noise_ratio > 0 else None)
        state0 = optimizer.init(zeros)
        targets0 = objective.targets(zeros, tf.zeros(self.style_shape))
        self._targets_type = type(targets0)
        # One variable per tensor of the state (L-BFGS keeps each curvature pair as its own).
        self.state_variables = [tf.Variable(t, trainable=False) for t in tf.nest.flatten(state0)]

        def as_state(tensors):
            return tf.nest.pack_sequence_as(state0, list(tensors))

        self.content_targets = [tf.Variable(t, trainable=False) for t in targets0.content]
        self.style_targets = [tf.Variable(t, trainable=False)
                              for t in targets0.style_gram_per_position]

        def read_state():
            return as_state(v.read_value() for v in self.state_variables)

        def read_targets():
            return self._targets_type(tuple(v.read_value() for v in self.content_targets),
                                      tuple(v.read_value() for v in self.style_targets), ())

        def report(image, targets):
            terms = objective.loss_terms(image, targets, weights)
            out = {f"{k}_loss": terms[k][0] for k in LOSS_OUTPUTS}
            out["image"] = image
            return out

        def set_images(content, style):
            for var in self.vgg_variables:
                var.assign(var.read_value())
            targets = objective.targets(content, style)
            for var, value in zip(self.content_targets + self.style_targets,
                                  targets.content + targets.style_gram_per_position):
                var.assign(value)
            start = initial_image(config.init, content, style, config.noise_ratio, config.seed,
                                  noise=noise)
            state = optimizer.init(start)
            for var, value in zip(self.state_variables, tf.nest.flatten(state)):
                var.assign(value)
            return report(optimizer.image(state), targets)

        def run(num_steps):
            targets = read_targets()

            def body(i, *tensors):
                state, _ = step(as_state(tensors), targets, weights)
                return (i + 1, *tf.nest.flatten(state))

            out = tf.while_loop(lambda i, *tensors: i < num_steps, body,
                                (tf.constant(0, tf.int32), *tf.nest.flatten(read_state())))
            state = as_state(out[1:])
            for var, value in zip(self.state_variables, tf.nest.flatten(state)):
                var.assign(value)
            return report(optimizer.image(state), targets)

        def get_image():
            return report(optimizer.image(read_state()), read_targets())

        self.set_images = tf.function(set_images, input_signature=[
            tf.TensorSpec(self.content_shape, tf.float32, name="content"),
            tf.TensorSpec(self.style_shape, tf.float32, name="style")])
        self.run = tf.function(run, input_signature=[tf.TensorSpec([], tf.int32, name="num_steps")])
        self.get_image = tf.function(get_image, input_signature=[])

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
    import numpy as np
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
    fd, temp = tempfile.mkstemp(prefix=".tf_nst_lite.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model)
        _usual_permissions(temp)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return path
