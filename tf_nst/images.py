"""Reading, resizing and writing images: every image handed to the rest of the library is a
float32 RGB ``(H, W, 3)`` array in ``[0, 1]``, upright as an image viewer shows the file. Bad
files raise :class:`ImageError`, one line naming the file, fit to show a user as it is.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import warnings
from typing import Any, BinaryIO, Callable, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

DEFAULT_MAX_PIXELS: int = 100_000_000

_JPEG_OPTIONS = {"quality": 95, "subsampling": 0}  # 4:4:4 chroma: no colour bleeding on fine detail
_FORMATS = {".png": ("PNG", {}), ".jpg": ("JPEG", _JPEG_OPTIONS), ".jpeg": ("JPEG", _JPEG_OPTIONS)}
_PIL_ERRORS = (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, EOFError,
               MemoryError, Image.UnidentifiedImageError)


class ImageError(ValueError):
    """Bad image input/output; ``str(err)`` is a single user-facing line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).splitlines()))


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads an image file as a float32 ``(H, W, 3)`` RGB array in ``[0, 1]``."""
    name = os.fsdecode(path)
    if os.path.isdir(path):
        raise ImageError(f"{name}: is a directory, not an image file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ImageError(f"{name}: cannot read: {err.strerror or err}") from None
    return decode_image(data, max_pixels=max_pixels, name=name)


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                 name: str = "<bytes>") -> np.ndarray:
    """Decodes an encoded image (PNG, JPEG, ...) to a float32 ``(H, W, 3)`` RGB array in ``[0, 1]``.

    ``max_pixels`` is checked from the header, before decoding. A truncated or corrupt file is an
    error, never a partly grey picture (as long as Pillow's ``ImageFile.LOAD_TRUNCATED_IMAGES``
    keeps its default, False). Transparency is composited over white, the EXIF orientation is
    applied, and ICC profiles are not: pixel values are taken to be sRGB.
    """
    if not data:
        raise ImageError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check replaces Pillow's warning; Pillow's hard error still counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
                if width <= 0 or height <= 0:
                    raise ImageError(f"{name}: image has zero size ({width}x{height})")
                if width * height > max_pixels:
                    raise _too_large(name, f"{width}x{height} = {width * height:,} pixels",
                                     max_pixels)
                im.verify()  # chunk checksums and a missing PNG end; verify() spends the image
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                with contextlib.suppress(*_PIL_ERRORS):  # a broken EXIF block: left as stored
                    im = ImageOps.exif_transpose(im)
                return _to_rgb_array(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        match = re.search(r"(\d+) pixels", str(err))
        if match and int(match.group(1)) > max_pixels:
            raise _too_large(name, f"{int(match.group(1)):,} pixels", max_pixels) from None
        raise ImageError(f"{name}: refused by Pillow as a possible decompression bomb ({err}); "
                         "--max_pixels does not lift Pillow's own Image.MAX_IMAGE_PIXELS") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image, or in a format Pillow cannot read") from None
    except _PIL_ERRORS as err:
        corrupt = isinstance(err, (OSError, SyntaxError, EOFError))
        reason = "truncated or corrupt image" if corrupt else "cannot decode image"
        raise ImageError(f"{name}: {reason} ({type(err).__name__}: {err})") from None


def _too_large(name: str, size: str, max_pixels: int) -> ImageError:
    return ImageError(f"{name}: image is too large ({size}; the limit is {max_pixels:,} pixels, "
                      "a guard against decompression bombs); if you trust the file, raise "
                      "--max_pixels")


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Converts a loaded Pillow image of any common mode to float32 RGB in ``[0, 1]``."""
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        grey = np.asarray(im).astype(np.float32)
        if im.mode == "F":  # 32-bit float greyscale is taken to hold intensities in [0, 1]
            grey = np.clip(np.nan_to_num(grey, nan=0.0), 0.0, 1.0)
        else:  # 16-bit greyscale (PNG, TIFF) at full precision; mode I holds it in int32
            grey = np.clip(grey, 0, 65535) / 65535.0
        return np.repeat(grey[:, :, None], 3, axis=2)
    if "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[:, :, 3:]
        return (rgba[:, :, :3] * alpha + (1.0 - alpha)).astype(np.float32)  # over white
    # Pillow reads Adobe's inverted CMYK JPEGs as plain CMYK, so this conversion is the usual one.
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def scaled_size(height: int, width: int, longest_side: int) -> tuple[int, int]:
    """The ``(height, width)`` with the same aspect ratio whose longer side is ``longest_side``."""
    if longest_side <= 0:
        raise ImageError(f"longest side must be a positive number of pixels, not {longest_side}")
    if height <= 0 or width <= 0:
        raise ImageError(f"image has zero size ({width}x{height})")
    longer, shorter = max(height, width), min(height, width)
    # Exact integer round-half-up of shorter * longest_side / longer, at least one pixel.
    scaled = max(1, (2 * shorter * longest_side + longer) // (2 * longer))
    return (longest_side, scaled) if height >= width else (scaled, longest_side)


def resize_image(image: Any, size: Sequence[int] | tf.Tensor) -> tf.Tensor:
    """Resizes an ``(H, W, 3)`` or ``(B, H, W, 3)`` image to ``size = (height, width)``.

    Pure TensorFlow, so ``size`` may be a tensor in a ``tf.function``. Bicubic with
    ``antialias=True``: the Keys cubic when enlarging, widened with the scale when shrinking (as
    Pillow's BICUBIC), so one filter serves both directions without aliasing. Clipped to [0, 1].
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank not in (None, 3, 4):
        raise ImageError(f"expected an image of shape (H, W, 3) or (B, H, W, 3), got {image.shape}")
    if not isinstance(size, tf.Tensor) and any(int(side) <= 0 for side in size):
        raise ImageError(f"cannot resize an image to {tuple(size)}: sides must be positive")
    image = tf.image.convert_image_dtype(image, tf.float32)  # casts floats, scales integers
    if isinstance(size, tf.Tensor):
        size = tf.cast(size, tf.int32)
    resized = tf.image.resize(image, size, method="bicubic", antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


def to_uint8(image: Any) -> np.ndarray:
    """``round(clip(x, 0, 1) * 255)`` as a uint8 ``(H, W, 3)`` array; drops a batch of one."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageError(f"expected an RGB image of shape (H, W, 3), got shape {array.shape}")
    if np.isnan(array).any():
        raise ImageError("image contains NaN values; the optimisation has probably diverged")
    return np.floor(np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def check_output_path(path: str | os.PathLike, overwrite: bool = True) -> None:
    """Checks that ``write_image(path, ...)`` can succeed; call it before a long run."""
    name = os.fsdecode(path)
    if os.path.isdir(path):
        raise ImageError(f"{name}: is a directory; give an output file name")
    extension = os.path.splitext(name)[1].lower()
    if extension not in _FORMATS:
        raise ImageError(f"{name}: unsupported output format {extension or '(no extension)'!r}; "
                         f"use one of {', '.join(_FORMATS)}")
    parent = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(parent):
        raise ImageError(f"{name}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ImageError(f"{name}: directory {parent} is not writable")
    if not overwrite and os.path.lexists(name):
        raise ImageError(f"{name}: file exists; pass --overwrite to replace it")


def write_image(path: str | os.PathLike, image: Any, overwrite: bool = True) -> None:
    """Writes an RGB image in ``[0, 1]`` as PNG or JPEG (quality 95), chosen by the extension,
    atomically (:func:`write_atomically`)."""
    check_output_path(path, overwrite=overwrite)
    pixels = Image.fromarray(to_uint8(image))
    image_format, options = _FORMATS[os.path.splitext(os.fsdecode(path))[1].lower()]
    write_atomically(path, lambda f: pixels.save(f, format=image_format, **options))


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Runs ``write(file)`` on a hidden temporary file in ``path``'s directory, syncs it, gives it
    the permissions a plainly created file would get, then renames it onto ``path``. On any error
    the temporary file is removed and ``path`` left untouched; an ``OSError`` becomes an
    :class:`ImageError`."""
    name = os.fsdecode(path)
    directory, base = os.path.split(os.path.abspath(name))
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temp, _new_file_mode(name))
            os.replace(temp, name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
    except OSError as err:
        raise ImageError(f"{name}: cannot write: {err.strerror or err}") from None
    # Makes the rename durable; best effort, as not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _new_file_mode(path: str) -> int:
    """The permissions a plainly created file would get (mkstemp's are owner-only)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()
