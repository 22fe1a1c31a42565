"""The optimisation loop and the Python API.

>>> from tf_nst import stylize, StyleTransfer, Config
>>> image = stylize("photo.jpg", "painting.jpg", image_size=256, num_steps=100)   # float RGB [0, 1]
>>> st = StyleTransfer("photo.jpg", "painting.jpg", Config(image_size=256))
>>> st.step(10)                          # losses after 10 steps, per layer too
>>> st.image                              # the current image, H x W x 3 in [0, 1]

The command line runs exactly this code (:mod:`tf_nst.cli`).
"""

from __future__ import annotations

import functools
import os
from typing import Callable, Union

import numpy as np
import tensorflow as tf

from tf_nst import images, optimizers
from tf_nst.config import INIT_NAMED, Config
from tf_nst.features import FeatureExtractor
from tf_nst.objective import LossWeights, Objective, make_step

ImageLike = Union[str, os.PathLike, np.ndarray, tf.Tensor]


@functools.lru_cache(maxsize=4)
def get_extractor(layer_names: tuple[str, ...], pooling: str = "max", weights: str = "imagenet",
                  precision: str = "float32", strategy: tf.distribute.Strategy | None = None
                  ) -> FeatureExtractor:
    """A cached :class:`FeatureExtractor` (building VGG19 takes seconds).

    With a ``strategy`` the network is built under ``strategy.scope()`` (its weights mirrored on
    every replica); the cache is keyed by the strategy, so a strategy never gets a plain network.
    """
    if strategy is None:
        return FeatureExtractor(layer_names, pooling=pooling, weights=weights, precision=precision)
    with strategy.scope():
        return FeatureExtractor(layer_names, pooling=pooling, weights=weights, precision=precision)


def extractor_for(config: Config, strategy: tf.distribute.Strategy | None = None
                  ) -> FeatureExtractor:
    return get_extractor(tuple(config.content_layers) + tuple(config.style_layers),
                         config.pooling, config.weights, config.precision, strategy)


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


def prepare(image: np.ndarray, longest_side: int) -> tf.Tensor:
    """Resize an ``H x W x 3`` image so its longest side is ``longest_side``; ``[1, h, w, 3]``."""
    size = images.scaled_size(image.shape[0], image.shape[1], longest_side)
    return images.resize_image(tf.convert_to_tensor(image)[None], size)


def initial_image(init: str, content: tf.Tensor, style: tf.Tensor, noise_ratio: float, seed: int,
                  max_pixels: int = 100_000_000) -> tf.Tensor:
    """The starting point: the content, noise, the style (resized) or an image file, with
    ``noise_ratio`` of uniform noise blended in."""
    size = tf.shape(content)[1:3]
    noise = tf.random.stateless_uniform(tf.shape(content), seed=[seed, 0x5EED])
    if init == "content":
        start = content
    elif init == "noise":
        return noise
    elif init == "style":
        start = images.resize_image(style, size)
    else:
        start = images.resize_image(as_image(init, max_pixels)[None], size)
    return (1.0 - noise_ratio) * start + noise_ratio * noise


class StyleTransfer:
    """One style transfer that can be stepped and inspected.

    ``content`` and ``style`` are paths or RGB arrays (uint8, or float in [0, 1]). The extractor
    is shared between instances with the same network settings.
    """

    def __init__(self, content: ImageLike, style: ImageLike, config: Config | None = None,
                 **overrides) -> None:
        config = (config or Config()).replace(**overrides) if overrides else (config or Config())
        self.config = config
        content_image = as_image(content, config.max_pixels)
        style_image = as_image(style, config.max_pixels)
        self.content = prepare(content_image, config.image_size)
        self.style = prepare(style_image, max(1, round(config.image_size * config.style_scale)))
        self.extractor = extractor_for(config)
        self.objective = Objective(self.extractor, config.content_layers, config.style_layers)
        self.optimizer = optimizers.from_config(config.optimizer, config.learning_rate,
                                                config.lbfgs_history)
        self.weights = LossWeights.from_config(config)
        self.targets = self.objective.targets(self.content, self.style)
        init = config.init if config.init in INIT_NAMED else os.fspath(config.init)
        start = initial_image(init, self.content, self.style, config.noise_ratio, config.seed,
                              config.max_pixels)
        self.state = self.optimizer.init(start)
        self._step = tf.function(make_step(self.objective, self.optimizer))
        self.steps_done = 0
        self.losses: dict[str, float] = {}

    def step(self, num_steps: int = 1) -> dict[str, float]:
        """Run ``num_steps`` optimisation steps; return the losses of the last one."""
        terms = None
        for _ in range(num_steps):
            self.state, terms = self._step(self.state, self.targets, self.weights)
            self.steps_done += 1
        if terms is not None:
            self.losses = {k: float(v[0]) for k, v in terms.items()}
        return self.losses

    def run(self, num_steps: int | None = None,
            callback: Callable[["StyleTransfer"], None] | None = None) -> np.ndarray:
        """Run the remaining steps of ``config.num_steps`` (or ``num_steps``); return the image."""
        remaining = self.config.num_steps - self.steps_done if num_steps is None else num_steps
        for _ in range(max(0, remaining)):
            self.step()
            if callback is not None:
                callback(self)
        return self.image

    @property
    def image(self) -> np.ndarray:
        """The current image, ``H x W x 3`` float32 in [0, 1]."""
        return self.optimizer.image(self.state)[0].numpy()


def stylize(content: ImageLike, style: ImageLike, config: Config | None = None,
            **overrides) -> np.ndarray:
    """Stylise ``content`` with ``style``; returns an ``H x W x 3`` float32 image in [0, 1].

    ``overrides`` are :class:`~tf_nst.config.Config` fields, e.g. ``num_steps=200``.
    """
    return StyleTransfer(content, style, config, **overrides).run()
