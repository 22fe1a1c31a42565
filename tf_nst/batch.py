"""Many content images, one style (or one blend of styles): batches of images optimised together,
on one device or many; and the frames of a video, one after another.

>>> from tf_nst.batch import stylize_batch, stylize_frames
>>> results = stylize_batch(["a.jpg", "b.jpg", "c.jpg"], "painting.jpg", Config(image_size=256))
>>> results = stylize_batch(["a.jpg", "b.jpg"], ["starry.jpg", "scream.jpg"],
...                         Config(image_size=256, style_blend_weights=(0.7, 0.3)))
>>> frames = stylize_frames(["f001.png", "f002.png"], "painting.jpg", Config(image_size=256))

Each content image is resized exactly as a single run resizes it (:func:`tf_nst.inputs.prepare`),
images of the same size are stacked into one ``[B, H, W, 3]`` tensor, and the batch is optimised by
the library's one step function (:func:`tf_nst.objective.make_step`) with the same optimisers,
whose every scalar is per image: so each result equals stylising that image alone (up to the
float rounding of batched convolutions). The style's Gram matrices are computed once per style
(``[S, 1, N, N]`` for S blended styles, broadcast over the batch); the content targets once per
image. Each image starts
from exactly the starting point a single run would give it (:func:`tf_nst.inputs.initial_image`).

With a ``tf.distribute`` strategy (:mod:`tf_nst.distribute`) each replica optimises its share of the
batch: the step runs under ``strategy.run`` and the network is built under ``strategy.scope()``.
Replicas never communicate (the images are independent), so a multi-worker run is each worker
stylising its share; :func:`stylize_batch` returns ``None`` for the images other workers made.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import os
import re
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tf_nst import health, images, optimizers
from tf_nst.config import INIT_NAMED, Config, ConfigError
from tf_nst.distribute import is_distributed, on_each_device
from tf_nst.objective import LossWeights, Objective, Targets, make_step
from tf_nst.builder import extractor_for
from tf_nst.inputs import (ImageLike, as_image, check_large_enough, initial_image, prepare,
                           style_list)

OUTPUT_FORMATS = ("png", "jpg", "jpeg")


# --------------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------------
def expand_contents(spec: str) -> list[str]:
    """The content files named by ``spec``: comma-separated paths and/or glob patterns, in order
    (each pattern's matches in natural order: ``f2.png`` before ``f10.png``), duplicates dropped.
    A pattern that matches nothing is an error.
    """
    paths: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if glob.has_magic(part):
            matches = sorted((m for m in glob.glob(os.path.expanduser(part))
                              if not os.path.isdir(m)), key=natural_key)
            if not matches:
                raise images.ImageError(f"--content={part}: no file matches this pattern")
            paths.extend(matches)
        else:
            paths.append(part)
    if not paths:
        raise images.ImageError(f"--content={spec!r}: names no image")
    return list(dict.fromkeys(paths))


def natural_key(path: str) -> tuple[list, str]:
    """Sort key that orders the numbers in names by value (``frame_9`` before ``frame_10``), and
    a name before its longer variants (``a.png``, ``a9.png``, ``a10.png``)."""
    root, ext = os.path.splitext(path)
    return ([(0, int(part), "") if part.isdigit() else (1, 0, part)
             for part in re.split(r"(\d+)", root)], ext)


def is_directory_output(output: str) -> bool:
    return output.endswith(("/", os.sep)) or os.path.isdir(output)


def is_batch(content_spec: str, output: str) -> bool:
    """Whether the command line asks for batch mode (several contents or an output directory)."""
    return "," in content_spec or glob.has_magic(content_spec) or is_directory_output(output)


def plan_outputs(contents: Sequence[str], output: str, output_format: str | None = None,
                 overwrite: bool = False) -> list[str]:
    """One output path per content image; every problem found before anything runs.

    ``output`` is a directory (``out/``; it must exist): each result is named after its input,
    ``out/<stem>.<output_format>`` (png by default). A name with ``{stem}`` is a template
    (``out/{stem}_starry.jpg``). A plain file name is allowed for a single content image.
    """
    if output_format is not None and output_format.lower().lstrip(".") not in OUTPUT_FORMATS:
        raise images.ImageError(f"--output_format={output_format}: must be one of "
                                f"{', '.join(OUTPUT_FORMATS)}")
    ext = "." + (output_format or "png").lower().lstrip(".")
    if is_directory_output(output):
        if not os.path.isdir(output):
            raise images.ImageError(f"--output={output}: directory does not exist")
        paths = [os.path.join(output, _stem(c) + ext) for c in contents]
    elif "{stem}" in output:
        paths = [output.replace("{stem}", _stem(c)) for c in contents]
        if output_format is not None:
            paths = [os.path.splitext(p)[0] + ext for p in paths]
    elif len(contents) == 1:
        paths = [output]
    else:
        raise images.ImageError(f"--output={output}: {len(contents)} content images need an "
                                "output directory (end it with /) or a name with {stem}")
    seen: dict[str, str] = {}
    inputs = {os.path.realpath(c) for c in contents}
    for content, path in zip(contents, paths):
        key = os.path.realpath(path)
        if key in seen:
            raise images.ImageError(f"--output: {seen[key]} and {content} would both be written to "
                                    f"{path}; rename one, or use a name with {{stem}}")
        if key in inputs:
            raise images.ImageError(f"{path}: would overwrite an input image; choose another "
                                    "--output or --output_format")
        seen[key] = content
        images.check_output_path(path, overwrite=overwrite)
    return paths


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def content_sizes(contents: Sequence[ImageLike], config: Config) -> list[tuple[int, int]]:
    """The ``(height, width)`` each content image is optimised at; reads (and so checks) every
    file, raising :class:`~tf_nst.images.ImageError` on the first bad one and
    :class:`~tf_nst.config.ConfigError` on the first too small for the network."""
    sizes = []
    for content in contents:
        image = as_image(content, config.max_pixels)
        sizes.append(images.scaled_size(image.shape[0], image.shape[1], config.image_size))
        check_large_enough(config, "content", *sizes[-1])
    return sizes


def plan_batches(sizes: Sequence[tuple[int, int]], batch_size: int | None = None
                 ) -> list[list[int]]:
    """Indices of the images optimised together: same size, at most ``batch_size`` per batch
    (``None`` or 0: no limit), sizes in order of first appearance, images in input order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(tuple(size), []).append(i)
    batches = []
    for members in groups.values():
        step = batch_size or len(members)
        batches.extend(members[i:i + step] for i in range(0, len(members), step))
    return batches


# --------------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BatchStatus:
    """Where a batch run is: passed to ``on_progress`` after every step."""

    images_done: int      # images finished (all workers' shares of the finished batches)
    images_total: int
    batch: int            # 1-based number of the batch being optimised
    batches: int
    batch_images: int     # images in that batch
    step: int             # steps done in that batch
    num_steps: int
    elapsed: float        # seconds since the run started (network and targets included)
    terms: Mapping[str, tf.Tensor] | None = None  # this step's loss terms (this process's images)
    finished: bool = False  # the batch is done and counted in images_done
    frames: bool = False    # video frames (stylize_frames): one frame per "batch", in order

    @property
    def images_per_minute(self) -> float:
        return 60.0 * self.images_done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float:
        current = 0 if self.finished else self.batch_images * self.step
        work = self.images_done * self.num_steps + current
        return work / max(1, self.images_total * self.num_steps)

    @property
    def eta(self) -> float:
        f = self.fraction
        return self.elapsed * (1.0 - f) / f if f > 0 else float("inf")

    def losses(self) -> dict[str, float]:
        """Mean of each loss term over the images of this process (forces a device sync)."""
        if not self.terms:
            return {}
        return {k: float(tf.reduce_mean(v)) for k, v in self.terms.items()}

    def line(self) -> str:
        eta = f"{self.eta:.0f}s" if math.isfinite(self.eta) else "?"
        if self.frames:
            return (f"frames {self.images_done}/{self.images_total} | frame {self.batch} step "
                    f"{self.step}/{self.num_steps} | {self.images_per_minute:.2f} frames/min "
                    f"eta {eta}")
        plural = "s" if self.batch_images != 1 else ""
        return (f"images {self.images_done}/{self.images_total} | batch {self.batch}/"
                f"{self.batches} ({self.batch_images} image{plural}) step {self.step}/"
                f"{self.num_steps} | {self.images_per_minute:.2f} images/min eta {eta}")


# --------------------------------------------------------------------------------------------------
# Running batches
# --------------------------------------------------------------------------------------------------
class _Runner:
    """Optimises one batch of equal-size images on the current device."""

    def __init__(self, config: Config, objective: Objective, optimizer, weights: LossWeights,
                 styles: Sequence[tf.Tensor]) -> None:
        self.config, self.objective, self.optimizer, self.weights = (config, objective,
                                                                     optimizer, weights)
        # Once per style, [S, 1, N, N] per layer (broadcast over the batch, blended in the loss).
        self.style_targets = objective.style_grams(styles)
        self._step = tf.function(health.with_finite_flag(make_step(objective, optimizer),
                                                         optimizer), reduce_retracing=True)

    def run(self, content: tf.Tensor, start: tf.Tensor, num_steps: int,
            on_step: Callable[[int, Mapping[str, tf.Tensor]], None]) -> dict[int, np.ndarray]:
        targets = Targets(self.objective.content_targets(content), self.style_targets)
        state = self.optimizer.init(start)
        for k in range(num_steps):
            state, terms, finite = self._step(state, targets, self.weights)
            health.check(finite, terms, self.config, k + 1)
            on_step(k + 1, terms)
        result = self.optimizer.image(state).numpy()
        return {i: result[i] for i in range(result.shape[0])}


class _DistributedRunner:
    """Optimises one batch with each replica of ``strategy`` taking an equal share.

    The batch is padded (with copies of its last image, dropped afterwards) to a multiple of the
    number of replicas, so every replica has the same shapes (TPUs need that). Each replica
    prepares its own copy of the network's kernels once, from its own copy of the weights, and
    every call it runs computes with it (:meth:`FeatureExtractor.computing_with`).
    """

    def __init__(self, strategy: tf.distribute.Strategy, config: Config, objective: Objective,
                 optimizer, weights: LossWeights, styles: Sequence[tf.Tensor]) -> None:
        self.strategy, self.config, self.weights = strategy, config, weights
        extractor = objective.extractor
        step = health.with_finite_flag(make_step(objective, optimizer), optimizer)

        def on_replicas(fn, *args):
            """``fn(*args)`` on every replica, with that replica's kernels (the first argument)."""
            def with_kernels(kernels, *args):
                with extractor.computing_with(kernels):
                    return fn(*args)

            return strategy.run(with_kernels, args=args)

        # The targets are computed eagerly, op by op, as on one device: in a graph, a convolution,
        # its bias and ReLU fuse into one op that rounds to bfloat16 once instead of twice.
        def style_targets(kernels, styles):
            return on_replicas(objective.style_grams, kernels, styles)

        def begin(kernels, content, start):
            return on_replicas(lambda c, s: (objective.content_targets(c), optimizer.init(s)),
                               kernels, content, start)

        @tf.function(reduce_retracing=True)
        def distributed_step(kernels, state, content_targets, style_targets, weights):
            return on_replicas(lambda st, c, s, w: step(st, Targets(c, s), w),
                               kernels, state, content_targets, style_targets, weights)

        @tf.function
        def finish(state):
            return strategy.run(optimizer.image, args=(state,))

        @tf.function
        def replica_ids():
            return strategy.run(
                lambda: tf.constant(1) * tf.distribute.get_replica_context().replica_id_in_sync_group)

        self.kernels = on_each_device(strategy,
                                      lambda: extractor.prepare_weights(only_changed=True))
        self._begin, self._step, self._finish = begin, distributed_step, finish
        self.style_targets = style_targets(self.kernels, list(styles))
        self.local_ids = [int(v) for v in strategy.experimental_local_results(replica_ids())]

    def run(self, content: tf.Tensor, start: tf.Tensor, num_steps: int,
            on_step: Callable[[int, Mapping[str, tf.Tensor]], None]) -> dict[int, np.ndarray]:
        strategy = self.strategy
        count = int(content.shape[0])
        replicas = strategy.num_replicas_in_sync
        share = -(-count // replicas)
        order = list(range(count)) + [count - 1] * (share * replicas - count)

        def distribute(tensor: tf.Tensor):
            padded = tf.gather(tensor, order)
            return strategy.experimental_distribute_values_from_function(
                lambda ctx: padded[ctx.replica_id_in_sync_group * share:
                                   (ctx.replica_id_in_sync_group + 1) * share])

        content_targets, state = self._begin(self.kernels, distribute(content), distribute(start))
        for k in range(num_steps):
            state, terms, finite = self._step(self.kernels, state, content_targets,
                                              self.style_targets, self.weights)
            terms = _local_terms(strategy, terms)
            health.check(all(strategy.experimental_local_results(finite)), terms, self.config,
                         k + 1)
            on_step(k + 1, terms)
        out: dict[int, np.ndarray] = {}
        for rid, result in zip(self.local_ids,
                               strategy.experimental_local_results(self._finish(state))):
            result = result.numpy()
            for j in range(share):
                index = rid * share + j
                if index < count:
                    out[index] = result[j]
        return out


def _local_terms(strategy, terms) -> dict[str, tf.Tensor]:
    return {k: tf.concat([tf.identity(v) for v in strategy.experimental_local_results(t)], 0)
            for k, t in terms.items()}


class _Setup:
    """What every batch and every frame of a run shares: the style images (prepared once), their
    targets (inside the runner, computed once) and how an image starts."""

    def __init__(self, style: ImageLike | Sequence[ImageLike], config: Config,
                 strategy: tf.distribute.Strategy | None = None) -> None:
        styles = style_list(style)
        if not styles:
            raise ConfigError("--style: at least one style image is needed")
        self.config = config
        side = config.style_side()
        self.styles = [prepare(as_image(s, config.max_pixels), side) for s in styles]
        for image in self.styles:
            check_large_enough(config, "style", *image.shape[1:3])
        distributed = is_distributed(strategy)
        extractor = extractor_for(config, strategy if distributed else None)
        objective = Objective.from_config(extractor, config)
        optimizer = optimizers.from_config(config)
        weights = LossWeights.from_config(config, num_styles=len(self.styles))
        self.runner = (
            _DistributedRunner(strategy, config, objective, optimizer, weights, self.styles)
            if distributed else _Runner(config, objective, optimizer, weights, self.styles))
        self._init = config.init if config.init in INIT_NAMED else os.fspath(config.init)

    def content(self, image: ImageLike) -> tf.Tensor:
        return prepare(as_image(image, self.config.max_pixels), self.config.image_size)

    def start(self, content: tf.Tensor) -> tf.Tensor:
        """The starting point a run of this image alone would give it."""
        config = self.config
        return initial_image(self._init, content, self.styles[0], config.noise_ratio, config.seed,
                             config.max_pixels)


def stylize_batch(contents: Sequence[ImageLike], style: ImageLike | Sequence[ImageLike],
                  config: Config | None = None, batch_size: int | None = None,
                  strategy: tf.distribute.Strategy | None = None,
                  on_progress: Callable[[BatchStatus], None] | None = None,
                  on_result: Callable[[int, np.ndarray], None] | None = None,
                  sizes: Sequence[tuple[int, int]] | None = None) -> list[np.ndarray | None]:
    """Stylise every image of ``contents`` with ``style``; one ``H x W x 3`` float32 result per input.

    ``style`` may be a list of styles: every image gets their blend (``config.style_blend_weights``)
    exactly as :func:`tf_nst.stylize` blends them for one image; the targets of the blend are
    computed once for the whole run.
    ``batch_size`` caps how many images are optimised together (default: all images of a size).
    ``on_result(index, image)`` is called as each result is ready (to write it at once);
    ``on_progress`` after every step. With a multi-worker ``strategy`` this process returns only
    its share (``None`` elsewhere). ``sizes`` skips re-reading the files when
    :func:`content_sizes` was already called.
    """
    config = config or Config()
    if batch_size is not None and batch_size < 0:
        raise ValueError("batch_size must be >= 0")
    sizes = list(sizes) if sizes is not None else content_sizes(contents, config)
    started = time.perf_counter()
    setup = _Setup(style, config, strategy)

    results: list[np.ndarray | None] = [None] * len(contents)
    batches = plan_batches(sizes, batch_size)
    done = 0
    for number, members in enumerate(batches, 1):
        singles = [setup.content(contents[i]) for i in members]
        # Each image's starting point exactly as a run of that image alone would make it.
        starts = [setup.start(c) for c in singles]
        content, start = tf.concat(singles, 0), tf.concat(starts, 0)

        def on_step(step: int, terms, number=number, members=members) -> None:
            if on_progress is not None:
                on_progress(BatchStatus(done, len(contents), number, len(batches), len(members),
                                        step, config.num_steps, time.perf_counter() - started,
                                        terms))

        for position, image in setup.runner.run(content, start, config.num_steps,
                                                on_step).items():
            results[members[position]] = image
            if on_result is not None:
                on_result(members[position], image)
        done += len(members)
        if on_progress is not None:
            on_progress(BatchStatus(done, len(contents), number, len(batches), len(members),
                                    config.num_steps, config.num_steps,
                                    time.perf_counter() - started, finished=True))
    return results


def stylize_frames(frames: Sequence[ImageLike], style: ImageLike | Sequence[ImageLike],
                   config: Config | None = None, content_blend: float = 0.0,
                   on_progress: Callable[[BatchStatus], None] | None = None,
                   on_result: Callable[[int, np.ndarray], None] | None = None
                   ) -> list[np.ndarray]:
    """Stylise the frames of a video in order, each starting from the previous frame's result.

    The first frame starts as a single run would (``config.init``, ``config.noise_ratio``); every
    later frame starts from the previous result (resized if the frame's size differs), blended
    with ``content_blend`` of its own content frame: ``(1 - b) * previous + b * content``. A start
    near the previous result keeps the textures where they were, which reduces flicker; ``b = 1``
    with ``init=content`` and no noise is stylising each frame alone. There is no optical flow:
    moving objects leave ghosts of their previous position that the optimisation must paint over.

    Arguments as :func:`stylize_batch` (``on_progress`` gets ``BatchStatus(frames=True)``).
    """
    config = config or Config()
    if not 0.0 <= content_blend <= 1.0:
        raise ValueError("content_blend must be between 0 and 1")
    started = time.perf_counter()
    setup = _Setup(style, config)
    results: list[np.ndarray] = []
    previous: tf.Tensor | None = None
    for index, frame in enumerate(frames):
        content = setup.content(frame)
        if previous is None:
            start = setup.start(content)
        else:
            if previous.shape[1:3] != content.shape[1:3]:
                previous = images.resize_image(previous, tf.shape(content)[1:3])
            start = previous if content_blend == 0 else (
                (1.0 - content_blend) * previous + content_blend * content)

        def status(step: int, terms=None, finished=False, index=index) -> BatchStatus:
            return BatchStatus(index + finished, len(frames), index + 1, len(frames), 1, step,
                               config.num_steps, time.perf_counter() - started, terms,
                               finished=finished, frames=True)

        def on_step(step: int, terms) -> None:
            if on_progress is not None:
                on_progress(status(step, terms))

        image = setup.runner.run(content, start, config.num_steps, on_step)[0]
        previous = tf.convert_to_tensor(image)[None]
        results.append(image)
        if on_result is not None:
            on_result(index, image)
        if on_progress is not None:
            on_progress(status(config.num_steps, finished=True))
    return results
