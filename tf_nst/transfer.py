"""The Python API: :func:`stylize` and :class:`StyleTransfer`, the optimisation a user steps.

>>> from tf_nst import stylize, StyleTransfer, Config
>>> image = stylize("photo.jpg", "painting.jpg", image_size=256, num_steps=100)   # float RGB [0, 1]
>>> st = StyleTransfer("photo.jpg", "painting.jpg", Config(image_size=256))
>>> st.step(10)                          # losses after 10 steps, per layer too
>>> st.image                              # the current image, H x W x 3 in [0, 1]

The command line runs exactly this code (:mod:`tf_nst.cli`). Its inputs are prepared by
:mod:`tf_nst.inputs` and its network, objective and optimiser built by :mod:`tf_nst.builder`, as
in every other mode.
"""

from __future__ import annotations

import bisect
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from tf_nst import builder, color, health, images, tiling
from tf_nst.config import Config, ConfigError
from tf_nst.inputs import (ImageLike, as_image, check_large_enough, mask_array, prepare,
                           resize_mask, start_image, style_list)
from tf_nst.objective import make_step


class StyleTransfer:
    """One style transfer that can be stepped and inspected.

    ``content`` and ``style`` are paths or RGB arrays (uint8, or float in [0, 1]); ``style`` may
    be a list of them (blended with ``config.style_blend_weights``). ``style_masks`` (one per
    style; white = where that style goes) and ``content_mask`` (white = keep the content) are
    paths or arrays of any size, resized to the output. The extractor is shared between
    instances with the same network settings.

    Scales larger than ``config.tile_size`` are optimised tile by tile (:mod:`tf_nst.tiling`);
    at such a scale :attr:`tiles` is its :class:`~tf_nst.tiling.TiledScale` and :attr:`state`
    and :attr:`targets` are None (each tile has its own, while it is visited).
    """

    def __init__(self, content: ImageLike, style: ImageLike | Sequence[ImageLike],
                 config: Config | None = None, *,
                 style_masks: Sequence[ImageLike] | None = None,
                 content_mask: ImageLike | None = None, **overrides) -> None:
        config = (config or Config()).replace(**overrides) if overrides else (config or Config())
        self.config = config
        styles = style_list(style)
        if not styles:
            raise ConfigError("--style: at least one style image is needed")
        if config.tiling and (style_masks is not None or content_mask is not None):
            raise ConfigError(f"--tile_size={config.tile_size}: --style_masks and --content_mask "
                              "are not supported with tiling yet")
        if style_masks is not None and len(style_masks) != len(styles):
            raise ConfigError(f"--style_masks: needs one mask per style image "
                              f"({len(styles)} styles, {len(style_masks)} masks)")
        self._content_image = as_image(content, config.max_pixels)
        self._style_images = [as_image(s, config.max_pixels) for s in styles]
        self._style_masks = (None if style_masks is None
                             else [mask_array(m, config.max_pixels) for m in style_masks])
        self._content_mask = (None if content_mask is None
                              else mask_array(content_mask, config.max_pixels))
        coarsest = min(config.scale_sizes)  # the smallest images any scale sees
        check_large_enough(config, "content", *images.scaled_size(
            *self._content_image.shape[:2], coarsest))
        for style in self._style_images:
            check_large_enough(config, "style", *images.scaled_size(
                *style.shape[:2], config.style_side(coarsest)))
        self.extractor, self.objective, self.optimizer, self.weights = builder.build(
            config, num_styles=len(styles))
        # One trace per scale (the image shape is static inside each trace).
        self._step = tf.function(health.with_finite_flag(make_step(self.objective, self.optimizer),
                                                         self.optimizer),
                                 jit_compile=config.jit_compile)
        self.sizes = config.scale_sizes
        self._scale_ends = tuple(np.cumsum(config.scale_steps).tolist())
        self.scale = 0
        self.steps_done = 0
        self.losses: dict[str, float] = {}
        # The final-size inputs; ``targets``, ``state`` and the ``current_*`` inputs belong to the
        # current scale of the coarse-to-fine schedule.
        self._inputs_by_side: dict[int, tuple] = {}  # _inputs_at is asked for a size again
        self.content, self.styles, self.content_mask, _ = self._inputs_at(config.image_size)
        self.style = self.styles[0]
        self._initial_image = lambda content, styles: start_image(config, content, styles[0])
        self._start_scale(self._initial_image)
        self._advance_finished_scales()

    def _inputs_at(self, side: int):
        """Content, styles (colour-matched), content mask and style masks at longest side ``side``."""
        if side not in self._inputs_by_side:
            self._inputs_by_side[side] = self._prepare_inputs(side)
        return self._inputs_by_side[side]

    def _prepare_inputs(self, side: int):
        config = self.config
        content = prepare(self._content_image, side)
        size = content.shape[1:3]
        styles = [color.match_color(prepare(s, config.style_side(side)), content,
                                    config.color_transfer) for s in self._style_images]
        content_mask = (None if self._content_mask is None
                        else resize_mask(self._content_mask, size))
        masks = (None if self._style_masks is None
                 else tf.stack([resize_mask(m, size) for m in self._style_masks]))
        if content_mask is not None:  # no style where the content is kept
            keep = 1.0 - content_mask
            masks = keep[None] if masks is None else masks * keep[None]
        return content, styles, content_mask, masks

    def _start_scale(self, start_fn) -> None:
        config, size = self.config, self.sizes[self.scale]
        content, styles, content_mask, masks = self._inputs_at(size)
        self.current_content, self.current_content_mask = content, content_mask
        start = start_fn(content, styles)
        self.tiles = None
        if config.tiled(size):  # style targets of the whole style, content targets per tile
            self.targets = self.state = None
            self.tiles = tiling.TiledScale(
                start, content, self.objective.style_grams(styles), self.objective, self.optimizer,
                config.scale_steps[self.scale], config.tile_size, config.tile_overlap,
                config.tile_sweeps)
        else:
            self.targets = self.objective.targets(content, styles, masks)
            self.state = self.optimizer.init(start)

    def _current(self) -> tf.Tensor:
        """The image being optimised at the current scale, ``[1, H, W, 3]``."""
        if self.tiles is not None:
            return self.tiles.image()
        return self.optimizer.image(self.state)

    def _advance_finished_scales(self) -> None:
        """Move to the next scale once this one's steps are done: the result is upsampled to the
        next size and becomes its starting point; targets are recomputed at that size."""
        while (self.scale < len(self.sizes) - 1
               and self.steps_done >= self._scale_ends[self.scale]):
            previous = self._current()
            self.scale += 1
            self._start_scale(lambda content, styles: images.resize_image(
                previous, tf.shape(content)[1:3]))

    def seek(self, steps_done: int) -> tuple:
        """Move to step ``steps_done`` of the schedule, to resume a saved run there.

        The scale that step belongs to is set up (its targets at its size) and a placeholder
        state of that scale's shape is returned; assign the saved state to :attr:`state` next.
        ``seek(0)`` starts the run again from its initial image.
        """
        if steps_done == 0:
            self.scale, self.steps_done = 0, 0
            self._start_scale(self._initial_image)
            self._advance_finished_scales()  # past coarse scales of 0 steps
            return self.state
        scale = bisect.bisect_right(self._scale_ends[:-1], steps_done)
        self.steps_done = steps_done
        if scale != self.scale:
            self.scale = scale
            self._start_scale(lambda content, styles: content)  # only its shape matters
        return self.state

    @property
    def inputs(self) -> list[np.ndarray | tf.Tensor]:
        """Everything the run is made of besides its config: the prepared content and styles, and
        the masks as given (what a checkpoint's fingerprint covers)."""
        masks = list(self._style_masks or []) + (
            [] if self._content_mask is None else [self._content_mask])
        return [self.content, *self.styles, *masks]

    def step(self, num_steps: int = 1) -> dict[str, float]:
        """Run ``num_steps`` optimisation steps; return the losses of the last one.

        With a coarse-to-fine schedule (``config.scales > 1``) the steps move through the scales:
        after the last step of a scale, :attr:`image` is the upsampled result at the next size.
        Losses are those of the scale the step ran at. At a tiled scale one step is one step of
        every tile, and the losses are those of the last tile stepped.

        Raises :class:`tf_nst.health.NumericalError` if the loss or the image stops being finite;
        ``state``, ``image`` and ``steps_done`` then still describe the last good step.
        """
        terms = None
        for _ in range(num_steps):
            if self.tiles is None:
                self.state, terms = self.checked_step(self.state, self.targets, self.weights)
            else:
                for _ in self.tiles.boxes:
                    terms = self.tiles.step(self.checked_step, self.weights)
            self.steps_done += 1
            self._advance_finished_scales()
        if terms is not None:
            self.losses = {k: float(v[0]) for k, v in terms.items()}
        return self.losses

    def checked_step(self, state, targets, weights):
        """One step of the step function from ``state`` -> ``(state, terms)``, with the health
        check: :class:`NumericalError` if it stops being finite (nothing is kept of it)."""
        state, terms, finite = self._step(state, targets, weights)
        health.check(finite, terms, self.config, self.steps_done + 1)  # keeps the last good state
        return state, terms

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
    def raw_image(self) -> np.ndarray:
        """The image being optimised, ``H x W x 3`` float32 in [0, 1]."""
        return self._current()[0].numpy()

    @property
    def image(self) -> np.ndarray:
        """The current result, ``H x W x 3`` float32 in [0, 1]: :attr:`raw_image` with the
        content's chroma when ``original_colors`` is set, and the content's pixels pasted back
        where ``content_mask`` is white."""
        image = self._current()
        if self.config.original_colors:
            image = color.original_colors(image, self.current_content)
        mask = self.current_content_mask
        if mask is not None:
            image = mask * self.current_content + (1.0 - mask) * image
        return image[0].numpy()


def stylize(content: ImageLike, style: ImageLike | Sequence[ImageLike],
            config: Config | None = None, **overrides) -> np.ndarray:
    """Stylise ``content`` with ``style`` (or a list of styles); returns an ``H x W x 3`` float32
    image in [0, 1].

    ``overrides`` are :class:`~tf_nst.config.Config` fields, e.g. ``num_steps=200``, or the
    ``style_masks`` / ``content_mask`` arguments of :class:`StyleTransfer`.
    """
    return StyleTransfer(content, style, config, **overrides).run()
