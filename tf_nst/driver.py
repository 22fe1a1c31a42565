"""The one loop over the jobs of a run, in every mode, with hooks.

A job is one content image, a batch of images of one size optimised together, or one frame of a
video (started from the previous frame's result): a :class:`~tf_nst.transfer.StyleTransfer` of the
run's :class:`Config`, all jobs sharing one network and one traced step. What a mode adds is a
:class:`Hooks`: the library keeps the results (:mod:`tf_nst.batch`), the command writes files,
checkpoints and logs (:class:`tf_nst.run_files.CommandHooks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from typing import TYPE_CHECKING, Callable, Collection, Mapping, NamedTuple, Sequence

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

    from tf_nst.config import Config
    from tf_nst.transfer import StyleTransfer


class Job(NamedTuple):
    """Content images optimised together: their positions in the run's list of contents."""

    indices: tuple[int, ...]
    label: str  # "" for a run of one job, else "batch 2/3" or "frame 4/9"
    key: str    # names its checkpoint folder


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


def make_jobs(sizes, video: bool, batch_size: int | None) -> list[Job]:
    """One job per frame of a video, in order; else one per batch of images of one size."""
    groups = ([[i] for i in range(len(sizes))] if video else plan_batches(sizes, batch_size))
    kind = "frame" if video else "batch"
    label = (lambda n: "") if len(groups) == 1 else (lambda n: f"{kind} {n}/{len(groups)}")
    return [Job(tuple(g), label(n), f"{kind}-{n:05d}") for n, g in enumerate(groups, 1)]


def following_start(previous: tf.Tensor, blend: float) -> Callable[[tf.Tensor], tf.Tensor]:
    """A frame's start: the previous frame's result resized to ``content``, blended with it."""
    import tensorflow as tf

    from tf_nst import images

    def start(content: tf.Tensor) -> tf.Tensor:
        resized = images.resize_image(previous, tf.shape(content)[1:3])
        return resized if blend == 0 else (1.0 - blend) * resized + blend * content
    return start


@dataclasses.dataclass(frozen=True)
class Status:
    """Where a run is, after a step or a job (``finished``): the library's ``on_progress``
    argument and the command's line after each job."""

    images_done: int      # images finished, by earlier runs too (every worker's)
    images_total: int
    images_now: int       # images finished by this run
    job: int              # 1-based number of the job being optimised
    jobs: int
    job_images: int       # images in that job
    step: int             # steps done in that job
    num_steps: int
    elapsed: float        # seconds since this run started (network and targets included)
    video: bool = False
    finished: bool = False  # the job is done and counted in images_done
    terms: Mapping[str, np.ndarray] | None = None  # this step's loss terms, per image

    @property
    def per_minute(self) -> float:
        return 60.0 * self.images_now / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float:
        """Seconds left at this run's pace so far (steps done in the current job count)."""
        current = 0 if self.finished else self.job_images * self.step / max(1, self.num_steps)
        work = self.images_now + current
        left = self.images_total - self.images_done - current
        return self.elapsed * left / work if work > 0 else float("inf")

    def losses(self) -> dict[str, float]:
        """Each loss term's mean over the job's images (of this process)."""
        return {k: float(np.mean(v)) for k, v in (self.terms or {}).items()}

    def line(self) -> str:
        """``images 3/10 | batch 2/4 (2 images) step 40/500 | 1.50 images/min eta 280s``."""
        unit = "frames" if self.video else "images"
        eta = f"{self.eta:.0f}s" if math.isfinite(self.eta) else "?"
        where = "" if self.finished else (
            f" | {'frame' if self.video else 'batch'} {self.job}/{self.jobs}"
            + ("" if self.video else f" ({self.job_images} image"
               f"{'s' if self.job_images != 1 else ''})") + f" step {self.step}/{self.num_steps}")
        return (f"{unit} {self.images_done}/{self.images_total}{where} | "
                f"{self.per_minute:.2f} {unit}/min eta {eta}")


class Hooks:
    """What a mode does around the jobs; every method is optional."""

    def job_started(self, driver: Driver, job: Job, st: StyleTransfer) -> None:
        """Before the first step (a checkpoint may be restored into ``st`` here)."""

    def stepped(self, driver: Driver, st: StyleTransfer) -> None:
        """After each step."""

    def job_finished(self, driver: Driver, job: Job, st: StyleTransfer) -> None:
        """After the job's last step (its images counted as done); the results are
        ``st.images``."""

    def ended(self, driver: Driver) -> None:
        """When the run ends, however it ends."""


class Driver:
    """Runs ``jobs`` over ``contents`` with the style(s), masks and ``strategy`` of one
    ``config``, calling ``hook``. ``content_blend`` makes it a video (see
    :func:`following_start`); ``guard`` is a context a step and a job's end run in (the command
    holds signals there); ``parts``: the network (built by the first job if None)."""

    def __init__(self, contents: Sequence, style, config: Config, jobs: Sequence[Job],
                 hook: Hooks, *, strategy=None, parts=None,
                 content_blend: float | None = None, guard=contextlib.nullcontext,
                 done_before: Collection[int] = (), **masks) -> None:
        self.contents, self.style, self.config, self.jobs = list(contents), style, config, jobs
        self.hook, self.strategy, self.parts, self.guard = hook, strategy, parts, guard
        self.content_blend, self.masks = content_blend, masks
        self.done_before = set(done_before)  # content images an earlier run finished
        self.done_now: set[int] = set()
        self.transfer: StyleTransfer | None = None  # the job being run
        self.job: Job | None = None
        self.previous: np.ndarray | None = None  # a video's last frame, raw (the next start)
        self.started = time.perf_counter()

    def run(self, previous: np.ndarray | None = None) -> None:
        """Every job not done before, in order; ``previous``: the raw result of the frame
        before the first unfinished one (a resumed video)."""
        self.started, self.previous = time.perf_counter(), previous
        try:
            for job in self.jobs:
                if not set(job.indices) <= self.done_before:
                    self._run_job(job)
        finally:
            self.hook.ended(self)

    def _run_job(self, job: Job) -> None:
        import tensorflow as tf

        from tf_nst.transfer import StyleTransfer
        start, video = None, self.content_blend is not None
        if video and self.previous is not None and job.indices[0] > 0:
            start = following_start(tf.constant(self.previous), self.content_blend)
        st = StyleTransfer([self.contents[i] for i in job.indices], self.style, self.config,
                           start=start, strategy=self.strategy, parts=self.parts, **self.masks)
        self.parts, self.transfer, self.job = st.parts, st, job
        self.hook.job_started(self, job, st)
        with self.guard():
            st.run(callback=functools.partial(self.hook.stepped, self))
        with self.guard():
            self.done_now.update(job.indices)
            self.hook.job_finished(self, job, st)
            if video:  # the next frame's start (copied to the host only for a video)
                self.previous = st.raw_images
            self.transfer = None

    def status(self) -> Status:
        """Where the run is now."""
        st, job = self.transfer, self.job
        finished = job is None or set(job.indices) <= self.done_now
        return Status(len(self.done_before | self.done_now), len(self.contents),
                      len(self.done_now), self.jobs.index(job) + 1 if job else 0, len(self.jobs),
                      len(job.indices) if job else 0, st.steps_done if st else 0,
                      self.config.num_steps, time.perf_counter() - self.started,
                      self.content_blend is not None, finished,
                      None if finished or st is None else st.terms)
