"""Many content images, one style: batches of images optimised together, on one device or many.

>>> from tf_nst.batch import stylize_batch
>>> results = stylize_batch(["a.jpg", "b.jpg", "c.jpg"], "painting.jpg", Config(image_size=256))

Each content image is resized exactly as a single run resizes it (:func:`tf_nst.transfer.prepare`),
images of the same size are stacked into one ``[B, H, W, 3]`` tensor, and the batch is optimised by
the library's one step function (:func:`tf_nst.objective.make_step`) with the same optimisers,
whose every scalar is per image: so each result equals stylising that image alone (up to the
float rounding of batched convolutions). The style's Gram matrices are computed once per style
(``[1, N, N]``, broadcast over the batch); the content targets once per image. Each image starts
from exactly the starting point a single run would give it (:func:`tf_nst.transfer.initial_image`).

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
import time
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tf_nst import images, optimizers
from tf_nst.config import INIT_NAMED, Config
from tf_nst.distribute import is_distributed
from tf_nst.objective import LossWeights, Objective, Targets, make_step
from tf_nst.transfer import ImageLike, as_image, extractor_for, initial_image, prepare

OUTPUT_FORMATS = ("png", "jpg", "jpeg")


# --------------------------------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------------------------------
def expand_contents(spec: str) -> list[str]:
    """The content files named by ``spec``: comma-separated paths and/or glob patterns, in order
    (each pattern's matches sorted), duplicates dropped. A pattern that matches nothing is an error.
    """
    paths: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if glob.has_magic(part):
            matches = sorted(m for m in glob.glob(os.path.expanduser(part)) if not os.path.isdir(m))
            if not matches:
                raise images.ImageError(f"--content={part}: no file matches this pattern")
            paths.extend(matches)
        else:
            paths.append(part)
    if not paths:
        raise images.ImageError(f"--content={spec!r}: names no image")
    return list(dict.fromkeys(paths))


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
    file, raising :class:`~tf_nst.images.ImageError` on the first bad one."""
    sizes = []
    for content in contents:
        image = as_image(content, config.max_pixels)
        sizes.append(images.scaled_size(image.shape[0], image.shape[1], config.image_size))
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
        return (f"images {self.images_done}/{self.images_total} | batch {self.batch}/{self.batches} "
                f"({self.batch_images} image{'s' if self.batch_images != 1 else ''}) step {self.step}/{self.num_steps} | "
                f"{self.images_per_minute:.2f} images/min eta {eta}")


# --------------------------------------------------------------------------------------------------
# Running batches
# --------------------------------------------------------------------------------------------------
class _Runner:
    """Optimises one batch of equal-size images on the current device."""

    def __init__(self, objective: Objective, optimizer, weights: LossWeights,
                 style: tf.Tensor) -> None:
        self.objective, self.optimizer, self.weights = objective, optimizer, weights
        self.style_targets = objective.style_targets(style)  # once per style, [1, N, N] per layer
        self._step = tf.function(make_step(objective, optimizer), reduce_retracing=True)

    def run(self, content: tf.Tensor, start: tf.Tensor, num_steps: int,
            on_step: Callable[[int, Mapping[str, tf.Tensor]], None]) -> dict[int, np.ndarray]:
        targets = Targets(self.objective.content_targets(content), self.style_targets)
        state = self.optimizer.init(start)
        for k in range(num_steps):
            state, terms = self._step(state, targets, self.weights)
            on_step(k + 1, terms)
        result = self.optimizer.image(state).numpy()
        return {i: result[i] for i in range(result.shape[0])}


class _DistributedRunner:
    """Optimises one batch with each replica of ``strategy`` taking an equal share.

    The batch is padded (with copies of its last image, dropped afterwards) to a multiple of the
    number of replicas, so every replica has the same shapes (TPUs need that).
    """

    def __init__(self, strategy: tf.distribute.Strategy, objective: Objective, optimizer,
                 weights: LossWeights, style: tf.Tensor) -> None:
        self.strategy, self.objective, self.optimizer, self.weights = (strategy, objective,
                                                                       optimizer, weights)
        step = make_step(objective, optimizer)

        @tf.function
        def style_targets(style):
            return strategy.run(objective.style_targets, args=(style,))

        @tf.function
        def begin(content, start):
            return strategy.run(lambda c, s: (objective.content_targets(c), optimizer.init(s)),
                                args=(content, start))

        @tf.function(reduce_retracing=True)
        def distributed_step(state, content_targets, style_targets, weights):
            return strategy.run(lambda st, c, s, w: step(st, Targets(c, s), w),
                                args=(state, content_targets, style_targets, weights))

        @tf.function
        def finish(state):
            return strategy.run(optimizer.image, args=(state,))

        @tf.function
        def replica_ids():
            return strategy.run(
                lambda: tf.constant(1) * tf.distribute.get_replica_context().replica_id_in_sync_group)

        self._begin, self._step, self._finish = begin, distributed_step, finish
        self.style_targets = style_targets(style)
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

        content_targets, state = self._begin(distribute(content), distribute(start))
        for k in range(num_steps):
            state, terms = self._step(state, content_targets, self.style_targets, self.weights)
            on_step(k + 1, _local_terms(strategy, terms))
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


def stylize_batch(contents: Sequence[ImageLike], style: ImageLike, config: Config | None = None,
                  batch_size: int | None = None,
                  strategy: tf.distribute.Strategy | None = None,
                  on_progress: Callable[[BatchStatus], None] | None = None,
                  on_result: Callable[[int, np.ndarray], None] | None = None,
                  sizes: Sequence[tuple[int, int]] | None = None) -> list[np.ndarray | None]:
    """Stylise every image of ``contents`` with ``style``; one ``H x W x 3`` float32 result per input.

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
    distributed = is_distributed(strategy)
    style_image = prepare(as_image(style, config.max_pixels),
                          max(1, round(config.image_size * config.style_scale)))
    extractor = extractor_for(config, strategy if distributed else None)
    objective = Objective(extractor, config.content_layers, config.style_layers)
    optimizer = optimizers.from_config(config.optimizer, config.learning_rate, config.lbfgs_history)
    weights = LossWeights.from_config(config)
    runner = (_DistributedRunner(strategy, objective, optimizer, weights, style_image)
              if distributed else _Runner(objective, optimizer, weights, style_image))
    init = config.init if config.init in INIT_NAMED else os.fspath(config.init)

    results: list[np.ndarray | None] = [None] * len(contents)
    batches = plan_batches(sizes, batch_size)
    done = 0
    for number, members in enumerate(batches, 1):
        singles = [prepare(as_image(contents[i], config.max_pixels), config.image_size)
                   for i in members]
        # Each image's starting point exactly as a run of that image alone would make it.
        starts = [initial_image(init, c, style_image, config.noise_ratio, config.seed,
                                config.max_pixels) for c in singles]
        content, start = tf.concat(singles, 0), tf.concat(starts, 0)

        def on_step(step: int, terms, number=number, members=members) -> None:
            if on_progress is not None:
                on_progress(BatchStatus(done, len(contents), number, len(batches), len(members),
                                        step, config.num_steps, time.perf_counter() - started,
                                        terms))

        for position, image in runner.run(content, start, config.num_steps, on_step).items():
            results[members[position]] = image
            if on_result is not None:
                on_result(members[position], image)
        done += len(members)
        if on_progress is not None:
            on_progress(BatchStatus(done, len(contents), number, len(batches), len(members),
                                    config.num_steps, config.num_steps,
                                    time.perf_counter() - started, finished=True))
    return results
