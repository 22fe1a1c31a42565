"""A run's inputs as tensors: images and masks from paths or arrays, resized for a scale, checked
against the network's depth, and the starting image. Every mode prepares its inputs here, so each
starts from the same pixels for the same :class:`Config`.
"""

from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np
import tensorflow as tf

from tf_nst import color, images, layers
from tf_nst.config import Config, ConfigError

ImageLike = Union[str, os.PathLike, np.ndarray, tf.Tensor]


def as_image(image: ImageLike, max_pixels: int) -> np.ndarray:
    """An RGB float32 ``H x W x 3`` array in [0, 1] from a path or an array (uint8 or float)."""
    if isinstance(image, (str, os.PathLike)):
        return images.read_image(image, max_pixels=max_pixels)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or 0 in array.shape:
        raise images.ImageError(f"expected an H x W x 3 image array, got shape {array.shape}")
    if array.shape[-1] == 4:  # flatten alpha over white
        alpha = _unit_range(array[..., 3:])
        array = _unit_range(array[..., :3]) * alpha + (1.0 - alpha)
    return _unit_range(array).astype(np.float32)


def _unit_range(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    return np.clip(array.astype(np.float32), 0.0, 1.0)


def style_list(style) -> list:
    """One style or a list of styles (blended), as a list."""
    return list(style) if isinstance(style, (list, tuple)) else [style]


def prepare(image: np.ndarray, longest_side: int) -> tf.Tensor:
    """Resize an ``H x W x 3`` image so its longest side is ``longest_side``; ``[1, h, w, 3]``."""
    size = images.scaled_size(image.shape[0], image.shape[1], longest_side)
    return images.resize_image(tf.convert_to_tensor(image)[None], size)


def mask_array(mask: ImageLike, max_pixels: int) -> np.ndarray:
    """A mask (path or array; white = 1, black = 0) as an ``H x W x 1`` float32 array."""
    array = np.asarray(mask)
    if not isinstance(mask, (str, os.PathLike)) and array.ndim == 2:
        return _unit_range(array)[..., None]
    return color.luminance(as_image(mask, max_pixels)).numpy()


def resize_mask(mask: np.ndarray, size: Sequence[int]) -> tf.Tensor:
    """An ``H x W x 1`` mask resized to ``size``, as ``[1, h, w, 1]``."""
    return images.resize_image(np.repeat(mask, 3, axis=-1)[None], size)[..., :1]


def check_large_enough(config: Config, what: str, height: int, width: int) -> None:
    """``ConfigError`` unless both sides of an image (the content or a style image, ``what``) as
    resized for the run, ``height`` x ``width``, reach the deepest layer used: VGG19 halves the
    image at each pooling, and a layer with no positions has no Gram matrix."""
    deepest = layers.deepest(config.content_layers + config.style_layers)
    needed = layers.smallest_side(deepest)
    if min(height, width) < needed:
        hint = "raise --image_size" + (" or --style_scale" if what == "style" else "")
        if config.scale_count > 1:
            hint += " or use fewer --scales"
        raise ConfigError(
            f"the {what} image resized to {width}x{height} px is too small for "
            f"{layers.paper_name(deepest)}, which needs at least {needed} px on each side; {hint}")


def initial_noise(shape, seed) -> tf.Tensor:
    """The uniform noise of :func:`initial_image` (stateless: the same for the same seed)."""
    return tf.random.stateless_uniform(shape, seed=[seed, 0x5EED])


def initial_image(init: str, content: tf.Tensor, style: tf.Tensor, noise_ratio: float, seed: int,
                  max_pixels: int = images.DEFAULT_MAX_PIXELS,
                  noise: tf.Tensor | None = None) -> tf.Tensor:
    """The starting point: the content, noise, the style (resized) or an image file, with
    ``noise_ratio`` of uniform noise blended in. ``noise`` replaces :func:`initial_noise` (the
    TFLite export bakes it in: TFLite has no stateless random operators)."""
    if noise is None and (init == "noise" or noise_ratio > 0):
        noise = initial_noise(tf.shape(content), seed)
    if init == "noise":
        return noise
    start = content
    if init != "content":
        image = style if init == "style" else as_image(init, max_pixels)[None]
        start = images.resize_image(image, tf.shape(content)[1:3])
    return start if noise_ratio == 0 else (1.0 - noise_ratio) * start + noise_ratio * noise


def start_image(config: Config, content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
    """:func:`initial_image` with ``config``'s init, noise ratio and seed."""
    return initial_image(os.fspath(config.init), content, style, config.noise_ratio, config.seed,
                         config.max_pixels)
