"""What the ``tf-nst`` command keeps on disk around the jobs of :class:`tf_nst.driver.Driver`
(outputs, partial images, snapshots, TensorBoard logs, checkpoints, records of finished outputs),
and how SIGINT/SIGTERM stop a run.

Outputs are written atomically when their job ends; a stopped or diverged run leaves
``NAME.partial.EXT``, never a partial or overwritten output. With ``--checkpoint_dir`` a killed
run started again continues: finished outputs are recorded with a key of all they depend on and
skipped, the job in progress resumes from its checkpoint, and a video's next frame starts from
the saved float result of the frame before (docs/batch-and-distributed.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tf_nst.driver import Hooks, Job

if TYPE_CHECKING:
    from tf_nst.config import Config


class Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM (see :class:`Signals`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Signals:
    """SIGINT and SIGTERM raise :class:`Stop`, except inside ``critical()`` (a step running, a
    file or checkpoint being written), where they are held until its end or ``check()``."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self.depth = 0
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame) -> None:
        if self.depth:
            self.pending = self.pending or signum
        else:
            raise Stop(signum)

    @contextlib.contextmanager
    def critical(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth:
            self.check()

    def check(self) -> None:
        """Acts on a signal held during ``critical()``; call it where stopping is safe."""
        if self.pending:
            raise Stop(self.pending)

    def ignore(self) -> None:
        """From now on signals are ignored (the last files are being written)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        self.pending = None


def snapshot_path(output: str, step: int) -> str:
    stem, ext = os.path.splitext(output)
    return f"{stem}_{step:05d}{ext}"


def partial_path(output: str) -> str:
    """Where an interrupted or diverged run leaves its current image: ``NAME.partial.EXT``."""
    stem, ext = os.path.splitext(output)
    return f"{stem}.partial{ext}"


class Plan(NamedTuple):
    """What a command's run does, decided before it starts."""

    contents: list[str]
    outputs: list[str]
    sizes: list[tuple[int, int]]  # (height, width) each content image is optimised at
    jobs: list[Job]
    keys: list[str]        # per content image: what its result depends on (see output_keys)
    finished: set[int]     # content images an earlier run of this command finished
    video: bool
    previous: np.ndarray | None  # what a resumed video's next frame starts from (raw result)

    @property
    def single(self) -> bool:
        return len(self.contents) == 1 and not self.video


def output_keys(config: Config, contents, styles, extra_files, video: bool) -> list[str]:
    """A key per content image of everything its result depends on: the config (with
    ``num_steps``), the bytes of its content, of the styles and of ``extra_files`` (masks, an
    init image); a video frame's key includes the previous frame's (it starts from its result)."""
    from tf_nst.checkpoint import fingerprint
    shared = hashlib.sha256(fingerprint(config).encode() + str(config.num_steps).encode())
    for path in [*styles, *extra_files]:
        shared.update(_file_digest(path))
    keys, previous = [], b""
    for content in contents:
        digest = shared.copy()
        digest.update(_file_digest(content) + previous)
        keys.append(digest.hexdigest())
        previous = keys[-1].encode() if video else b""
    return keys


def _file_digest(path: str) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def read_finished(directory: str | None, outputs, keys) -> set[int]:
    """The content images whose outputs a run with the same keys recorded as finished in
    ``directory`` and which still exist."""
    if not directory:
        return set()
    recorded: dict[str, str] = {}
    for path in sorted(Path(directory).glob("finished*.json")):
        with contextlib.suppress(OSError, ValueError):  # a torn file: its images are made again
            recorded.update(json.loads(path.read_text()))
    return {i for i, (out, key) in enumerate(zip(outputs, keys))
            if recorded.get(os.path.realpath(out)) == key and os.path.exists(out)}


def record_finished(directory: str, worker: int, entries: dict[str, str]) -> None:
    """Adds ``{output: key}`` to this worker's record in ``directory``, atomically."""
    from tf_nst import images
    path = os.path.join(directory, f"finished{'' if worker == 0 else f'-{worker}'}.json")
    recorded = {}
    with contextlib.suppress(OSError, ValueError):  # none yet, or torn: its images are made again
        recorded = json.loads(Path(path).read_text())
    recorded.update({os.path.realpath(k): v for k, v in entries.items()})
    os.makedirs(directory, exist_ok=True)
    images.write_atomically(path, lambda f: f.write(json.dumps(recorded, indent=0).encode()))


def save_previous(directory: str, frame: int, image: np.ndarray) -> None:
    """Video frame ``frame``'s float result, which the next frame of a resumed run starts from."""
    from tf_nst import images
    os.makedirs(directory, exist_ok=True)
    images.write_atomically(os.path.join(directory, "previous.npz"), lambda f: np.savez(
        f, frame=frame, image=np.asarray(image, np.float32)))


def video_resumed(finished: set[int], directory: str | None
                  ) -> tuple[set[int], np.ndarray | None]:
    """The frames a resumed video skips: the finished ones before the first unfinished, up to
    the frame :func:`save_previous` kept; and that frame's result (the next frame starts from
    it), or None."""
    try:
        with np.load(os.path.join(directory, "previous.npz")) as saved:
            frame, image = int(saved["frame"]), saved["image"]
    except (OSError, ValueError, KeyError, TypeError):
        return set(), None
    first_unfinished = min(set(range(len(finished) + 1)) - finished)
    skipped = min(first_unfinished, frame + 1)
    return set(range(skipped)), image if skipped == frame + 1 else None


class CommandHooks(Hooks):
    """The command's side of each job: resume from and save checkpoints, the progress line,
    the losses every ``--print_every`` steps, snapshots, TensorBoard, signals, writing the
    results. ``flag_values``: the command's flags; ``log(line)`` prints a line."""

    def __init__(self, flag_values, config: Config, plan: Plan, signals: Signals, log,
                 worker: int = 0) -> None:
        self.flags, self.config, self.plan, self.signals = flag_values, config, plan, signals
        self.log, self.worker = log, worker
        self.saver = self.progress = None
        self.outputs: list[str] = []   # the current job's outputs made by this process
        self.saved_step = -1
        self.loggers: dict[str, object] = {}
        self.written: list[str] = []
        self.reason = ""  # why the last job ended (StyleTransfer.stop_reason)

    def job_started(self, driver, job: Job, st) -> None:
        from tf_nst.progress import Progress
        self.saved_step = -1
        self.outputs = [self.plan.outputs[job.indices[i]] for i in st.local_indices]
        self.progress = Progress(self.config.num_steps, every=self.flags.print_every or 50,
                                 label=job.label)
        self.saver = self._checkpointer(job, st)
        if self.saver is not None:
            resumed = resume(self.saver, st, self.config.num_steps, self.flags.overwrite)
            if resumed is not None:
                st.restore_state(resumed.state, resumed.steps_done)
                self.saved_step = resumed.steps_done
                self.log(f"{job.label + ': ' if job.label else ''}resuming at step "
                         f"{resumed.steps_done} from {resumed.path}")

    def _checkpointer(self, job: Job, st):
        """The job's checkpointer (None without --checkpoint_dir): in ``DIR`` for a single
        image, else ``DIR/<job>``, worker K > 0 in ``worker-K/`` of it; this process's replicas
        are part of the fingerprint."""
        from tf_nst.checkpoint import Checkpointer
        directory = self.flags.checkpoint_dir
        if not directory:
            return None
        folder = directory if self.plan.single else os.path.join(directory, job.key)
        if self.worker:
            folder = os.path.join(folder, f"worker-{self.worker}")
        layout = getattr(st.stepper, "replica_ids", None)  # a strategy's replicas here
        extra = [] if layout is None else [np.asarray(layout)]
        return Checkpointer.for_run(folder, self.config, *st.inputs, st.raw_images, *extra)

    def stepped(self, driver, st) -> None:
        """After each step: progress, losses, snapshot, TensorBoard, checkpoint, signals."""
        from tf_nst import images
        from tf_nst.progress import format_losses
        flags, step = self.flags, st.steps_done
        self.progress.update(step, st.losses)
        if flags.print_every and step % flags.print_every == 0:
            self.log(f"{self.progress.label}step {step}: "
                     f"{format_losses(st.losses, per_layer=True)}", tagged=not self.plan.single)
        snapshot = flags.save_every and step % flags.save_every == 0
        logged = bool(flags.logdir) and (snapshot or step == self.config.num_steps)
        results = st.images if snapshot or logged else None  # computed once per step
        for position, output in enumerate(self.outputs):
            if snapshot:
                with self.signals.critical():
                    images.write_image(snapshot_path(output, step), results[position])
            if flags.logdir:
                logger = self._logger(output)
                logger.scalars(step, {k: v[position] for k, v in st.terms.items()})
                if logged:
                    logger.image(step, results[position])
        if step % flags.checkpoint_every == 0:
            self.save_checkpoint(st)
        self.signals.check()  # between steps, where state and step count agree

    def _logger(self, output: str):
        """TensorBoard's writer for ``output``: ``--logdir`` itself for a single image, else a
        run per image in it, named after the output."""
        from tf_nst.summaries import SummaryLogger
        if output not in self.loggers:
            self.loggers[output] = SummaryLogger(self.flags.logdir if self.plan.single else
                                                 os.path.join(self.flags.logdir, Path(output).stem))
        return self.loggers[output]

    def save_checkpoint(self, st) -> None:
        if self.saver is not None and st.steps_done != self.saved_step:
            with self.signals.critical():
                self.saver.save(st.checkpoint_state(), st.steps_done)
            self.saved_step = st.steps_done

    def job_finished(self, driver, job: Job, st) -> None:
        """Records, then writes the job's results (a record without its file is made again);
        drops its checkpoint unless the run is one image (it may go on with more --num_steps)."""
        from tf_nst import images
        directory = self.flags.checkpoint_dir
        self.save_checkpoint(st)
        self.reason = st.stop_reason
        if directory:
            if self.plan.video:
                save_previous(directory, job.indices[0], st.raw_images)
            record_finished(directory, self.worker, {
                out: self.plan.keys[job.indices[i]]
                for out, i in zip(self.outputs, st.local_indices)})
        for output, image in zip(self.outputs, st.images):
            if self.flags.logdir and st.steps_done != self.config.num_steps:  # stopped early
                self._logger(output).image(st.steps_done, image)
            images.write_image(output, image, overwrite=True)
            self.written.append(output)
            remove_stale_partial(output, self.log)
        if directory and not self.plan.single:
            shutil.rmtree(os.path.join(directory, job.key), ignore_errors=True)
        if not self.plan.single:
            self.log(f"{job.label or 'batch'}: {self.reason}")
            self.log(driver.status().line())

    def ended(self, driver) -> None:
        for logger in self.loggers.values():
            logger.close()

    def leave_partial(self, st) -> str:
        """Writes the images of ``st``, the job in progress (if any), as NAME.partial.EXT (and a
        checkpoint); a clause for the command's last line."""
        from tf_nst import images
        from tf_nst.checkpoint import CheckpointError
        notes = []
        if st is not None and st.steps_done > 0:
            try:
                for output, image in zip(self.outputs, st.images):
                    images.write_image(partial_path(output), image, overwrite=True)
                notes.append(f"PARTIAL image{'s' if len(self.outputs) > 1 else ''} of step "
                             f"{st.steps_done} written to "
                             f"{', '.join(partial_path(o) for o in self.outputs)}")
            except images.ImageError as err:
                notes.append(f"could not write the partial image ({err})")
            if self.saver is not None:
                try:
                    self.save_checkpoint(st)
                    notes.append(f"checkpoint in {self.flags.checkpoint_dir}: run the same "
                                 "command to resume")
                except CheckpointError as err:
                    notes.append(str(err))
        if self.plan.single:
            notes.append(f"{self.plan.outputs[0]} not written" if notes else
                         f"nothing written ({self.plan.outputs[0]} untouched)")
        else:
            unit = "frames" if self.plan.video else "images"
            notes.append(f"{len(self.written)} of {len(self.plan.contents)} {unit} written")
        return "; ".join(notes)


def resume(saver, transfer, num_steps: int, overwrite: bool):
    """The checkpoint to resume from (``transfer`` moved to its step), or None; a foreign or
    overshooting checkpoint is refused (CheckpointError) unless ``overwrite`` discards it."""
    from tf_nst.checkpoint import CheckpointError

    def template(steps_done: int):
        if steps_done > num_steps:
            raise CheckpointError(
                f"--checkpoint_dir={saver.directory} is at step {steps_done}, beyond "
                f"--num_steps={num_steps}; raise --num_steps, use another --checkpoint_dir, or "
                "pass --overwrite to discard it")
        return transfer.seek(steps_done)

    try:
        return saver.restore(template)
    except CheckpointError:
        if not overwrite:
            raise
        saver.discard()
        transfer.seek(0)  # back to the start, in case the broken checkpoint moved it
        return None


def remove_stale_partial(output: str, log) -> None:
    """The finished image supersedes the NAME.partial.EXT an interrupted run of it left."""
    try:
        os.remove(partial_path(output))
    except FileNotFoundError:
        pass
    except OSError as err:
        log(f"note: could not remove {partial_path(output)} ({err})")
