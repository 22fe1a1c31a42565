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
import collections
import functools
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from tf_nst import builder, color, health, images, stopping, tiling
from tf_nst.config import Config, ConfigError
from tf_nst.inputs import (ImageLike, as_image, check_large_enough, mask_array, prepare,
                           resize_mask, start_image, style_list)


class StyleTransfer:
    """One style transfer that can be stepped and inspected: one content image, or a batch of
    content images of one size optimised together (each exactly as if alone).

    ``content`` is a path or an RGB array (uint8, or float in [0, 1]), or a list of them (a batch:
    they must have one size once resized); ``style`` may be a list (blended with
    ``config.style_blend_weights``). ``style_masks`` (one per style; white = where that style goes)
    and ``content_mask`` (white = keep the content) are paths or arrays of any size, resized to
    the output. ``start`` replaces the starting image of ``config.init``: an image, or a function
    of the content ``[B, H, W, 3]`` at the coarsest scale (a video's previous frame).
    ``strategy``: a ``tf.distribute`` strategy whose replicas share the batch. ``parts``: the
    :func:`tf_nst.builder.build` of ``config`` to reuse (runs of one config share one trace).

    Scales larger than ``config.tile_size`` are optimised tile by tile (:mod:`tf_nst.tiling`);
    at such a scale :attr:`tiles` is its :class:`~tf_nst.tiling.TiledScale` and :attr:`state`
    and :attr:`targets` are None (each tile has its own, while it is visited).
    """

    def __init__(self, content: ImageLike | Sequence[ImageLike],
                 style: ImageLike | Sequence[ImageLike], config: Config | None = None, *,
                 style_masks: Sequence[ImageLike] | None = None,
                 content_mask: ImageLike | None = None, start=None, strategy=None,
                 parts: builder.RunParts | None = None, **overrides) -> None:
        config = (config or Config()).replace(**overrides) if overrides else (config or Config())
        self.config = config
        self._read_inputs(content, style, style_masks, content_mask)
        self.parts = parts or builder.build(config, len(self._style_images), strategy)
        self.extractor, self.objective, self.optimizer, self.weights, self.stepper = self.parts
        self.sizes = config.scale_sizes
        self._scale_ends = tuple(np.cumsum(config.scale_steps).tolist())
        self.scale = 0
        self.steps_done = 0
        self.losses: dict[str, float] = {}
        self.terms: dict[str, np.ndarray] = {}  # the last step's loss terms, per image
        # The final-size inputs; ``targets``, ``state`` and the ``current_*`` inputs belong to the
        # current scale of the coarse-to-fine schedule.
        self._inputs_at = functools.cache(self._prepare_inputs)  # a size is asked for again
        self.content, self.styles, self.content_mask, _ = self._inputs_at(config.image_size)
        self.style = self.styles[0]
        self.local_indices = self.stepper.local_indices(int(self.content.shape[0]))
        # --stop_tolerance, judged at the finest scale; an image that converged keeps the
        # image of that step while the others of its batch go on.
        self.rule = stopping.start(len(self.local_indices))
        self._finals: dict[int, np.ndarray] = {}  # position in local_indices -> raw image
        self._initial_image = self._starter(start)
        self._start_scale(self._initial_image)
        self._advance_finished_scales()

    def _read_inputs(self, content, style, style_masks, content_mask) -> None:
        """Reads and checks the images and masks (ConfigError, ImageError)."""
        config = self.config
        styles = style_list(style)
        if not styles:
            raise ConfigError("--style: at least one style image is needed")
        if style_masks is not None and len(style_masks) != len(styles):
            raise ConfigError(f"--style_masks: needs one mask per style image "
                              f"({len(styles)} styles, {len(style_masks)} masks)")
        contents = list(content) if isinstance(content, (list, tuple)) else [content]
        self._content_images = [as_image(c, config.max_pixels) for c in contents]
        self._style_images = [as_image(s, config.max_pixels) for s in styles]
        self._style_masks = (None if style_masks is None
                             else [mask_array(m, config.max_pixels) for m in style_masks])
        self._content_mask = (None if content_mask is None
                              else mask_array(content_mask, config.max_pixels))
        coarsest = min(config.scale_sizes)  # the smallest images any scale sees
        for image in self._content_images:
            check_large_enough(config, "content", *images.scaled_size(
                *image.shape[:2], coarsest))
        for image in self._style_images:
            check_large_enough(config, "style", *images.scaled_size(
                *image.shape[:2], config.style_side(coarsest)))

    def _starter(self, start):
        """The starting image of the first scale as a function of its inputs."""
        config = self.config
        if start is None:  # each image's as if it were alone
            def each(content, styles):
                style = styles[0]
                return tf.concat([start_image(config, content[i:i + 1],
                                              style[i:i + 1] if style.shape[0] > 1 else style)
                                  for i in range(content.shape[0])], 0)
            return each
        if callable(start):
            return lambda content, styles: start(content)
        given = tf.convert_to_tensor(np.asarray(start, np.float32))
        given = given if given.shape.rank == 4 else given[None]
        return lambda content, styles: images.resize_image(given, tf.shape(content)[1:3])

    def _prepare_inputs(self, side: int):
        """Contents, styles (colour-matched), content mask and style masks at longest side
        ``side``."""
        config = self.config
        contents = [prepare(c, side) for c in self._content_images]
        size = contents[0].shape[1:3]
        if any(c.shape[1:3] != size for c in contents):
            raise ConfigError("content images optimised together must have one size once "
                              "resized; tf_nst.batch.stylize_batch groups them by size")
        content = tf.concat(contents, 0)
        styles = [prepare(s, config.style_side(side)) for s in self._style_images]
        if config.color_transfer != "none":  # each content image its own colour-matched styles
            styles = [tf.concat([color.match_color(s, c, config.color_transfer)
                                 for c in contents], 0) for s in styles]
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
        grams = self.stepper.style_grams(styles, int(content.shape[0]))
        self.tiles = None
        if config.tiled(size):  # style targets of the whole style, content targets per tile
            self.targets = self.state = None
            self.tiles = tiling.TiledScale(
                start, content, grams, masks, self.stepper, config.scale_steps[self.scale],
                config.tile_size, config.tile_overlap, config.tile_sweeps, self.objective.mean)
        else:
            self.targets, self.state = self.stepper.begin(content, start, grams, masks)

    def _current(self) -> tf.Tensor:
        """This process's images at the current scale, ``[L, H, W, 3]``."""
        if self.tiles is not None:
            return tf.gather(self.tiles.image(), self.local_indices)
        return self.stepper.image(self.state)

    def _advance_finished_scales(self) -> None:
        """Move to the next scale once this one's steps are done: the result is upsampled to the
        next size and becomes its starting point; targets are recomputed at that size."""
        while (self.scale < len(self.sizes) - 1
               and self.steps_done >= self._scale_ends[self.scale]):
            previous = self._all_current()
            self.scale += 1
            self._start_scale(lambda content, styles: images.resize_image(
                previous, tf.shape(content)[1:3]))

    def _all_current(self) -> tf.Tensor:
        """The current images of the whole batch (other workers' images as their start)."""
        if self.tiles is not None:
            return self.tiles.image()
        current = self._current()
        if len(self.local_indices) == self.current_content.shape[0]:
            return current
        return tf.tensor_scatter_nd_update(self.current_content,
                                           [[i] for i in self.local_indices], current)

    def seek(self, steps_done: int) -> tuple:
        """Move to step ``steps_done`` of the schedule, to resume a saved run there.

        The scale that step belongs to is set up (its targets at its size) and a placeholder
        :meth:`checkpoint_state` of that scale's shape is returned; pass the saved state to
        :meth:`restore_state` next. ``seek(0)`` starts the run again from its initial image.
        """
        self.rule = stopping.start(len(self.local_indices))
        self._finals.clear()
        if steps_done == 0:
            self.scale, self.steps_done = 0, 0
            self._start_scale(self._initial_image)
            self._advance_finished_scales()  # past coarse scales of 0 steps
            return self.checkpoint_state()
        scale = bisect.bisect_right(self._scale_ends[:-1], steps_done)
        self.steps_done = steps_done
        if scale != self.scale or self.tiles is not None:
            self.scale = scale
            self._start_scale(lambda content, styles: content)  # only its shape matters
        return self.checkpoint_state()

    def checkpoint_state(self) -> tuple:
        """The state a checkpoint saves: the optimiser's (at a tiled scale the tiles'), and with
        a stopping rule its recent losses and the images that met it."""
        state = (self.stepper.host_state(self.state) if self.tiles is None
                 else self.tiles.checkpoint_state())
        if not self.config.stop_tolerance:
            return state
        finals = np.zeros(self._current().shape, np.float32)
        for position, image in self._finals.items():
            finals[position] = image
        flat = collections.namedtuple("RunState", type(state)._fields
                                      + ("stop_history", "stop_step", "stop_at", "stop_images"))
        return flat(*state, *self.rule, tf.constant(finals))

    def restore_state(self, saved: tuple, steps_done: int) -> None:
        """Continues from a :meth:`checkpoint_state` saved after ``steps_done`` steps (after
        :meth:`seek` to that step)."""
        if self.config.stop_tolerance:
            *saved, history, step, stopped, finals = saved
            self.rule = stopping.RuleState(history, step, stopped)
            self._finals = {int(p): np.asarray(finals)[p]
                            for p in np.flatnonzero(np.asarray(stopped) > 0)}
            saved = type(self.state)(*saved) if self.tiles is None else saved
        if self.tiles is None:
            self.state = self.stepper.device_state(saved)
        else:
            self.tiles.restore(saved)
        self.steps_done = steps_done

    @property
    def inputs(self) -> list[np.ndarray | tf.Tensor]:
        """Everything the run is made of besides its config: the prepared contents and styles,
        and the masks as given (what a checkpoint's fingerprint covers)."""
        masks = list(self._style_masks or []) + (
            [] if self._content_mask is None else [self._content_mask])
        return [self.content, *self.styles, *masks]

    def step(self, num_steps: int = 1) -> dict[str, float]:
        """Run ``num_steps`` optimisation steps; return the losses of the last one (the mean
        over the images of a batch; :attr:`terms` has them per image).

        With a coarse-to-fine schedule (``config.scales > 1``) the steps move through the scales:
        after the last step of a scale, :attr:`image` is the upsampled result at the next size.
        Losses are those of the scale the step ran at. At a tiled scale one step is one step of
        every tile, and the losses are those of the last tile stepped.

        Raises :class:`tf_nst.health.NumericalError` if the loss or the image stops being finite;
        ``state``, ``image`` and ``steps_done`` then still describe the last good step.
        """
        for _ in range(num_steps):
            if self.tiles is None:
                self.state, terms = self.checked_step(self.state, self.targets, self.weights)
            else:
                for _ in self.tiles.boxes:
                    terms = self.tiles.step(self.checked_step, self.weights)
            self.steps_done += 1
            self.terms = {k: np.asarray(v, np.float64) for k, v in terms.items()}
            self.losses = {k: float(v.mean()) for k, v in self.terms.items()}
            self._judge()
            self._advance_finished_scales()
        return self.losses

    def _judge(self) -> None:
        """Feeds the stopping rule at the finest, untiled scale; keeps the image of each image
        that converged at this step. (A tiled scale has no whole-image loss to judge.)"""
        config = self.config
        if not config.stop_tolerance or self.scale != len(self.sizes) - 1 or self.tiles is not None:
            return
        self.rule = stopping.judge(self.rule, self.terms["total"], config.stop_tolerance,
                                   config.style_ramp_steps)
        newly = [int(p) for p in np.flatnonzero(self.rule.stopped_at.numpy())
                 if int(p) not in self._finals]
        raw = self._current().numpy() if newly else None
        for position in newly:
            self._finals[position] = raw[position]

    @property
    def converged(self) -> bool:
        """Whether every image of this process has met the stopping rule (``stop_tolerance``)."""
        return len(self._finals) == len(self.local_indices)

    @property
    def stop_reason(self) -> str:
        """Why :meth:`run` ended: the stopping rule, or the steps run out."""
        if self.converged:
            start = self._scale_ends[self.scale - 1] if self.scale else 0
            steps = sorted({int(k) + start for k in self.rule.stopped_at.numpy()})
            reason = stopping.reason(self.config.stop_tolerance)
            return f"stopped at step {'/'.join(map(str, steps))}: {reason}"
        return f"ran all {self.steps_done} steps"

    def checked_step(self, state, targets, weights):
        """One step from ``state`` -> ``(state, terms)``, with the health check:
        :class:`NumericalError` if it stops being finite (nothing is kept of it)."""
        state, terms, finite = self.stepper.step(state, targets, weights)
        health.check(finite, terms, self.config, self.steps_done + 1)  # keeps the last good state
        return state, terms

    def run(self, num_steps: int | None = None,
            callback: Callable[["StyleTransfer"], None] | None = None) -> np.ndarray:
        """Run the remaining steps of ``config.num_steps`` (or ``num_steps``); return the image
        (:attr:`images` for a batch)."""
        remaining = self.config.num_steps - self.steps_done if num_steps is None else num_steps
        for _ in range(max(0, remaining)):
            if self.converged:
                break
            self.step()
            if callback is not None:
                callback(self)
        return self.image if len(self.local_indices) == 1 else self.images

    @property
    def raw_images(self) -> np.ndarray:
        """The images being optimised, ``[L, H, W, 3]`` float32 in [0, 1] (this process's); an
        image that met the stopping rule is the one of the step it did."""
        raw = self._current().numpy()
        for position, final in self._finals.items():
            raw[position] = final
        return raw

    @property
    def images(self) -> np.ndarray:
        """The current results, ``[L, H, W, 3]`` float32 in [0, 1], in the order of
        :attr:`local_indices`: :attr:`raw_images` with the content's chroma when
        ``original_colors`` is set, and the content's pixels pasted back where ``content_mask``
        is white."""
        image = tf.constant(self.raw_images)
        content = tf.gather(self.current_content, self.local_indices)
        if self.config.original_colors:
            image = color.original_colors(image, content)
        mask = self.current_content_mask
        if mask is not None:
            image = mask * content + (1.0 - mask) * image
        return image.numpy()

    @property
    def raw_image(self) -> np.ndarray:
        """:attr:`raw_images` of a run of one image, ``H x W x 3``."""
        return self._one(self.raw_images)

    @property
    def image(self) -> np.ndarray:
        """:attr:`images` of a run of one image, ``H x W x 3``."""
        return self._one(self.images)

    @staticmethod
    def _one(batch: np.ndarray) -> np.ndarray:
        if batch.shape[0] != 1:
            raise ValueError(f"this run holds {batch.shape[0]} images: use .images")
        return batch[0]


def stylize(content: ImageLike, style: ImageLike | Sequence[ImageLike],
            config: Config | None = None, **overrides) -> np.ndarray:
    """Stylise ``content`` with ``style`` (or a list of styles); returns an ``H x W x 3`` float32
    image in [0, 1].

    ``overrides`` are :class:`~tf_nst.config.Config` fields, e.g. ``num_steps=200``, or the
    ``style_masks`` / ``content_mask`` arguments of :class:`StyleTransfer`.
    """
    return StyleTransfer(content, style, config, **overrides).run()
