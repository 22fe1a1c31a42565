"""Large images: a scale of the schedule optimised tile by tile (``Config.tile_size``).

A scale whose longest side exceeds ``tile_size`` keeps its image as a full-size canvas and is
optimised in overlapping square tiles, one after the other, with the library's one step function
(:func:`tf_nst.objective.make_step`) and the same :class:`Objective` (docs/large-images.md):

* **targets**: a tile's content targets are its crop's features; its style targets are the
  per-position Gram matrices ``A / M`` of the *whole* style image, so the style loss (Eq. 4)
  holds every tile to the whole style. Where the content loss (Eq. 1) and the total variation
  are sums over positions (the printed formulation), their weights are multiplied by
  ``image area / tile area`` to keep an untiled run's balance at every pixel.
* **schedule**: every tile gets the scale's steps, split evenly over ``tile_sweeps`` passes.
* **optimiser state** starts afresh at every visit: one state per tile would cost the memory
  tiling saves, and the neighbours' moves make a stored curvature estimate stale.
* **blending**: within a sweep every tile starts from the canvas as it was at the sweep's start;
  after it the canvas is ``sum_t w_t * result_t``, with weights summing to 1 at every pixel
  (linear ramps across the overlaps, ~0 at a tile's inner edge, whose features lack context);
  starting from a neighbour's fresh result would count it twice in the overlap and leave a band.
"""

from __future__ import annotations

import collections
import math
from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from tf_nst.objective import LossWeights, StepFn


class Box(NamedTuple):
    """A tile: its top-left corner and size in px."""

    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Starts of the fewest tiles of ``tile`` px that cover ``[0, length)`` with at least
    ``overlap`` px shared by neighbours, evenly spread from 0 to ``length - tile``."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> list[Box]:
    """Overlapping tiles of ``tile x tile`` px (less along a side shorter than ``tile``) covering
    a ``height x width`` image, all inside it, row by row."""
    size_y, size_x = min(tile, height), min(tile, width)
    return [Box(top, left, size_y, size_x) for top in tile_starts(height, tile, overlap)
            for left in tile_starts(width, tile, overlap)]


def ramp_weights(starts: Sequence[int], size: int, length: int) -> np.ndarray:
    """Blend weights along one axis, ``[len(starts), length]`` float64, summing to 1 at every
    position: 1 inside a tile, and across the overlap with a neighbour a linear ramp from ~0 at the
    tile's edge, the neighbour's ramp being its complement."""
    raw = np.zeros((len(starts), length))
    for i, start in enumerate(starts):
        centre = np.arange(size) + 0.5  # pixel centres from the tile's start
        weight = np.ones(size)
        if i > 0 and starts[i - 1] + size > start:
            weight = np.minimum(weight, centre / (starts[i - 1] + size - start))
        if i < len(starts) - 1 and start + size > starts[i + 1]:
            weight = np.minimum(weight, (size - centre) / (start + size - starts[i + 1]))
        raw[i, start:start + size] = weight
    return raw / raw.sum(axis=0)  # exact ramps sum to 1 already; this covers 3-tile overlaps


def blend_weights(height: int, width: int, tile: int, overlap: int) -> list[np.ndarray]:
    """The weight map ``[box.height, box.width]`` (float32) of each of :func:`tile_boxes`' tiles:
    the product of the two axes' :func:`ramp_weights`, so they sum to 1 at every pixel."""
    rows = ramp_weights(tile_starts(height, tile, overlap), min(tile, height), height)
    cols = ramp_weights(tile_starts(width, tile, overlap), min(tile, width), width)
    per_row = len(cols)  # tile_boxes goes row by row
    return [np.outer(rows[i // per_row, box.slices[0]], cols[i % per_row, box.slices[1]])
            .astype(np.float32) for i, box in enumerate(tile_boxes(height, width, tile, overlap))]


def visit_schedule(num_tiles: int, steps: int, sweeps: int) -> list[tuple[int, int]]:
    """``(tile, steps)`` of each visit: ``sweeps`` passes over all the tiles in order; each tile
    gets ``steps`` in all, split evenly over the passes (the remainder in the last). Passes of 0
    steps are left out, so every ``num_tiles`` visits make one sweep."""
    even, rest = divmod(steps, sweeps)
    counts = [even] * (sweeps - 1) + [even + rest]
    return [(tile, count) for count in counts if count for tile in range(num_tiles)]


class TiledScale:
    """One scale of the schedule optimised tile by tile (see the module's docstring).

    ``start`` and ``content`` are ``[B, H, W, 3]`` at this scale; ``grams`` are the style targets
    of the whole style image (:meth:`Stepper.style_grams`); ``masks`` the style masks
    ``[S, 1, H, W, 1]`` at this scale, or None (each tile gets its crop of them); ``stepper`` makes
    a tile's targets and state (:mod:`tf_nst.stepper`); ``steps`` is the scale's share of
    ``num_steps``: every tile gets that many steps. ``mean``: the objective's losses are means.
    """

    def __init__(self, start: tf.Tensor, content: tf.Tensor, grams, masks, stepper, steps: int,
                 tile: int, overlap: int, sweeps: int, mean: bool = True) -> None:
        self.canvas = np.array(start, np.float32)  # the images at the start of the sweep
        self.delta = np.zeros_like(self.canvas)  # sum of w_t (result_t - crop_t) of this sweep
        self._content = np.asarray(content, np.float32)
        self._masks = None if masks is None else np.asarray(masks, np.float32)
        height, width = self.canvas.shape[1:3]
        self.boxes = tile_boxes(height, width, tile, overlap)
        self.blend = blend_weights(height, width, tile, overlap)
        self.visits = visit_schedule(len(self.boxes), steps, sweeps)
        self.area_ratio = 1.0 if mean else (
            height * width / (self.boxes[0].height * self.boxes[0].width))
        self._stepper, self._grams = stepper, grams
        self._local = stepper.local_indices(self.canvas.shape[0])  # the images this process makes
        self._visit, self._left = -1, 0  # the visit under way (or last) and its steps left
        self._crop: np.ndarray | None = None
        self.state = self.targets = None  # the optimiser's, on the tile being visited, if any

    @property
    def tile(self) -> int:
        """Index in :attr:`boxes` of the tile being (or last) visited."""
        return self.visits[max(self._visit, 0)][0]

    def tile_weights(self, weights: LossWeights) -> LossWeights:
        """``weights`` with the content and TV weights times :attr:`area_ratio`."""
        return weights._replace(content=weights.content * self.area_ratio,
                                tv=weights.tv * self.area_ratio)

    def _begin_visit(self) -> None:
        self._visit += 1
        tile, self._left = self.visits[self._visit]
        rows, cols = self.boxes[tile].slices
        self._crop = self.canvas[:, rows, cols].copy()
        masks = None if self._masks is None else tf.constant(self._masks[:, :, rows, cols])
        self.targets, self.state = self._stepper.begin(
            tf.constant(self._content[:, rows, cols]), tf.constant(self._crop), self._grams, masks)

    def _add_visit(self, delta: np.ndarray) -> np.ndarray:
        """``delta`` plus the visit in progress' change through the tile's blend weights."""
        rows, cols = self.boxes[self.tile].slices
        result = np.asarray(self._stepper.image(self.state))
        for position, index in enumerate(self._local):
            delta[index, rows, cols] += self.blend[self.tile][..., None] * (
                result[position] - self._crop[index])
        return delta

    def step(self, step_fn: StepFn, weights: LossWeights) -> dict:
        """One step of the tile being visited (the next visit begins if none is under way); the
        visit's result is blended into the canvas after its last step. Returns the step's loss
        terms. If ``step_fn`` raises, nothing changes."""
        if self.state is None:
            self._begin_visit()
        self.state, terms = step_fn(self.state, self.targets, self.tile_weights(weights))
        self._left -= 1
        if self._left == 0:
            self.delta = self._add_visit(self.delta)
            self.state = self.targets = self._crop = None
            if (self._visit + 1) % len(self.boxes) == 0:  # the sweep is over
                self.canvas += self.delta
                self.delta[:] = 0.0
        return terms

    def checkpoint_state(self) -> tuple:
        """Everything the rest of the scale depends on, as one flat NamedTuple of tensors: the
        canvas, the sweep's blended changes, the visit, its steps left and the optimiser's state
        on its tile (the next visit is begun if none is under way, as a step would; after the
        last visit, a state of the first tile stands in)."""
        if self.state is None and self._visit + 1 < len(self.visits):
            self._begin_visit()
        state, visit = self.state, self._visit
        if state is None:
            rows, cols = self.boxes[0].slices
            _, state = self._stepper.begin(tf.constant(self._content[:, rows, cols]),
                                           tf.constant(self.canvas[:, rows, cols]), self._grams)
            visit = len(self.visits)
        flat = collections.namedtuple("TiledState", ("canvas", "delta", "visit", "left")
                                      + type(state)._fields)
        return flat(tf.constant(self.canvas), tf.constant(self.delta), tf.constant(visit),
                    tf.constant(self._left), *self._stepper.host_state(state))

    def restore(self, saved: tuple) -> None:
        """Continues from a :meth:`checkpoint_state` (the crop and the targets are recomputed:
        the canvas does not change within a sweep)."""
        self.canvas, self.delta = np.array(saved[0]), np.array(saved[1])
        self._visit = int(saved[2]) - 1
        self.state = self.targets = None
        if self._visit + 1 < len(self.visits):
            self._begin_visit()
            self._left = int(saved[3])
            self.state = self._stepper.device_state(type(self.state)(*saved[4:]))

    def image(self) -> tf.Tensor:
        """The images, ``[B, H, W, 3]``: the sweep's start with the visits of the sweep so far
        blended in, the one in progress as if it ended now."""
        delta = self.delta if self.state is None else self._add_visit(self.delta.copy())
        return tf.constant(self.canvas + delta)
