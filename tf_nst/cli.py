"""The ``tf-nst`` command: stylise a content image with a style image.

    tf-nst --content=photo.jpg --style=painting.jpg --output=out.png
    tf-nst --preset=gatys2016 --content=... --style=... --output=out.png

Every hyper-parameter flag comes from :class:`tf_nst.config.Config`. ``--help`` lists the flags
one line each, ``--helpfull`` with their whole help; neural-style's flags (``-content_image``,
``-num_iterations``, ...) are read too (:mod:`tf_nst.aliases`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from absl import app, flags

from tf_nst import flags as config_flags
from tf_nst import presets, usage

PROGRAM = "tf-nst"

presets.define_preset_flag(module_name=__name__)

flags.DEFINE_string("content", None, "Content image (the photo to repaint). Several: comma-separated "
                    "paths and/or a quoted glob ('photos/*.jpg'), with --output=DIR/.")
flags.DEFINE_list("style", None, "Style image (the painting whose texture is transferred), or a "
                  "comma-separated list of them, blended with --style_blend_weights (with several "
                  "content images too: each gets the blend).")
flags.DEFINE_list("style_masks", None, "One mask image per --style image: style i goes where mask "
                  "i is white (guided Gram matrices, Gatys et al. 2017). Any size; resized to the "
                  "output.")
flags.DEFINE_string("content_mask", None, "Mask image: where it is white the content is kept "
                    "unstylised (no style loss there; the content's pixels are pasted back).")
flags.DEFINE_string("logdir", None, "Write TensorBoard logs here: every loss term at every step, "
                    "the image every --save_every steps and at the end.")
flags.DEFINE_string("output", "out.png", "Output image; .png or .jpg/.jpeg. Written atomically. "
                    "For several content images: a directory ending in / (created if missing; "
                    "one file per input, named after it) or a name with {stem}.")
flags.DEFINE_boolean("overwrite", False, "Replace --output if it already exists.")
flags.DEFINE_integer("print_every", 50, "Log every loss term, per layer too, every N steps "
                     "(0 = never).", lower_bound=0)
flags.DEFINE_integer("save_every", 0, "Also write the current image every N steps, next to "
                     "--output as NAME_STEP.EXT (0 = never).", lower_bound=0)
flags.DEFINE_string("checkpoint_dir", None, "Save the optimiser state here every "
                    "--checkpoint_every steps, on Ctrl-C/SIGTERM and at the end; run again with the "
                    "same flags to resume from the newest checkpoint (same result as an "
                    "uninterrupted run). A checkpoint of a different run is refused unless "
                    "--overwrite, which discards it.")
flags.DEFINE_integer("checkpoint_every", 50, "With --checkpoint_dir: save every N steps.",
                     lower_bound=1)
flags.DEFINE_boolean("check_memory", True, "Estimate the memory the run needs before starting "
                     "and refuse it if it clearly cannot fit.")
flags.DEFINE_float("memory_limit_gb", 0.0, "Memory budget for --check_memory in GB (0 = the "
                   "memory available now, from /proc/meminfo and cgroup limits).", lower_bound=0.0)
flags.DEFINE_enum("output_format", None, ["png", "jpg", "jpeg"], "Batch mode: format of the files "
                  "written into an --output directory (default png).")
flags.DEFINE_integer("batch_size", 0, "Batch mode: at most this many images (of the same size) are "
                     "optimised together (0 = all images of a size).", lower_bound=0)
flags.DEFINE_boolean("video", False, "Batch mode: --content is the frames of a video, stylised in "
                     "order (names in natural order: f9 before f10), each starting from the "
                     "previous frame's result to reduce flicker; one output per frame in --output "
                     "DIR/, named after the frame.")
flags.DEFINE_float("video_content_blend", 0.0, "With --video: start each frame from the previous "
                   "result blended with this fraction of its own content frame (0 = the previous "
                   "result alone; more follows motion better, with more flicker).",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy: default (one device), mirrored (all GPUs of this "
                  "machine), multi_worker (machines listed in TF_CONFIG), tpu. Each replica "
                  "optimises its share of the images.")
flags.DEFINE_string("tpu", "", "--strategy=tpu: TPU name or grpc:// address for "
                    "TPUClusterResolver (empty = Colab / TPU VM default).")
config_flags.define_config_flags()

FLAGS = flags.FLAGS

USAGE = (f"usage: {PROGRAM} --content=PHOTO --style=PAINTING [--output=out.png] [--preset=NAME] "
         "[flags]\nRepaints PHOTO with the texture of PAINTING (Gatys et al. 2016). Flags, by "
         "group, with defaults:")
# The command's own flags in --help, before the hyper-parameters' groups (tf_nst.config.groups).
HELP_GROUPS = {
    "run": ("preset", "content", "style", "output", "overwrite", "style_masks", "content_mask"),
    "progress": ("print_every", "save_every", "logdir", "checkpoint_dir", "checkpoint_every",
                 "check_memory", "memory_limit_gb"),
    "batch": ("output_format", "batch_size", "video", "video_content_blend", "strategy", "tpu"),
}


def _fail(message: str, status: int = 1) -> "NoReturn":  # noqa: F821
    usage.fail(PROGRAM, message, status)


def snapshot_path(output: str, step: int) -> str:
    stem, ext = os.path.splitext(output)
    return f"{stem}_{step:05d}{ext}"


def partial_path(output: str) -> str:
    """Where an interrupted or diverged run leaves its current image: ``NAME.partial.EXT``."""
    stem, ext = os.path.splitext(output)
    return f"{stem}.partial{ext}"


class _Stop(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM (see :class:`_Signals`)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Signals:
    """SIGINT and SIGTERM raise :class:`_Stop`, except inside ``critical()`` (a step running, a
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
            raise _Stop(signum)

    @contextlib.contextmanager
    def critical(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending:
            raise _Stop(self.pending)

    def check(self) -> None:
        """Acts on a signal held during ``critical()``; call it where stopping is safe."""
        if self.pending:
            raise _Stop(self.pending)

    def ignore(self) -> None:
        """From now on signals are ignored (the last files are being written)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        self.pending = None


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        _fail(f"unexpected arguments: {' '.join(argv[1:])}", 2)
    signals = _Signals()
    config = _checked_config()
    # Imported here so that --help and bad flags answer without loading TensorFlow.
    from tf_nst import batch_cli, startup
    startup.start_tensorflow()
    if batch_cli.wanted(FLAGS):
        return batch_cli.main(FLAGS, config, PROGRAM, _fail)
    return _SingleRun(config, signals).main()


def _checked_config():
    """The run's :class:`Config` from the flags, every flag checked (before TensorFlow loads:
    seconds); a bad one ends the command in one line."""
    from tf_nst import batch_cli
    from tf_nst.config import ConfigError
    try:
        if not FLAGS.content or not FLAGS.style:
            raise ConfigError("--content and --style are required")
        config = config_flags.config_from_flags(FLAGS)
        batch_cli.check_video_flags(FLAGS)
    except ConfigError as err:
        _fail(str(err), 2)
    return config


class _SingleRun:
    """One content image: a :class:`~tf_nst.transfer.StyleTransfer` run to the end with the
    command's hooks (progress lines, snapshots, TensorBoard, checkpoints), and on a signal or a
    diverged step the current image left as NAME.partial.EXT."""

    def __init__(self, config, signals: _Signals) -> None:
        self.config, self.signals = config, signals
        self.transfer = self.logger = self.saver = self.progress = None
        self.saved_step = -1

    def main(self) -> int:
        from tf_nst import images
        from tf_nst.checkpoint import CheckpointError
        from tf_nst.health import NumericalError
        try:
            self._announce(self._start())
            with self.signals.critical():  # a signal during a step is acted on after it
                image = self.transfer.run(callback=self._on_step)
            self.save_checkpoint(self.transfer)
            self.signals.ignore()  # the output is written whole or not at all
            images.write_image(FLAGS.output, image, overwrite=FLAGS.overwrite)
            _remove_stale_partial(FLAGS.output)
        except (_Stop, KeyboardInterrupt) as stop:
            self._interrupted(stop.signum if isinstance(stop, _Stop) else signal.SIGINT)
        except NumericalError as err:
            self.signals.ignore()
            self.progress.log("")
            _fail(f"{err}; {_leave_partial(self.transfer, None)}")
        except (images.ImageError, CheckpointError) as err:
            _fail(str(err))
        finally:
            if self.logger is not None:
                self.logger.close()
        self.progress.log(f"{PROGRAM}: wrote {FLAGS.output}")
        return 0

    def _start(self):
        """Checks the output and the memory, then builds the transfer, the TensorBoard logger and
        the checkpointer; returns the checkpoint to resume from, or None. A problem ends the
        command in one line."""
        from tf_nst import images, resources
        from tf_nst.checkpoint import Checkpointer
        from tf_nst.config import ConfigError
        from tf_nst.features import WeightsError
        from tf_nst.summaries import LogdirError, SummaryLogger
        from tf_nst.transfer import StyleTransfer
        config = self.config
        try:
            images.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)
            if FLAGS.check_memory:
                _check_memory(config)
            if FLAGS.checkpoint_dir and config.tiling:
                raise ConfigError(f"--checkpoint_dir cannot yet resume a tiled run (--tile_size="
                                  f"{config.tile_size} < --image_size={config.image_size}); drop "
                                  "one of them")
            self.transfer = StyleTransfer(FLAGS.content, FLAGS.style, config,
                                          style_masks=FLAGS.style_masks,
                                          content_mask=FLAGS.content_mask)
            if FLAGS.logdir:
                self.logger = SummaryLogger(FLAGS.logdir)
            if FLAGS.checkpoint_dir:
                self.saver = Checkpointer.for_run(
                    FLAGS.checkpoint_dir, config, *self.transfer.inputs,
                    self.transfer.optimizer.image(self.transfer.state))
                return _resume(self.saver, self.transfer, config.num_steps)
        except (ConfigError, images.ImageError, WeightsError, resources.ResourceError,
                LogdirError) as err:
            _fail(str(err), 2 if isinstance(err, ConfigError) else 1)
        return None

    def _announce(self, resumed) -> None:
        """The run's first line, a warning if the style ramp outlasts a scale, and the step
        resumed at (which ``resumed`` moves the transfer to)."""
        from tf_nst.progress import Progress
        config, transfer = self.config, self.transfer
        self.progress = Progress(config.num_steps, every=FLAGS.print_every or 50)
        self.progress.log(_first_line(config, *transfer.content.shape[1:3]))
        warning = _ramp_warning(config, transfer.weights)
        if warning:
            self.progress.log(warning)
        if resumed is not None:
            transfer.state, transfer.steps_done = resumed.state, resumed.steps_done
            self.saved_step = resumed.steps_done
            self.progress.log(f"{PROGRAM}: resuming at step {resumed.steps_done} from "
                              f"{resumed.path}")

    def _on_step(self, st) -> None:
        """After each step: progress, losses, snapshot, TensorBoard, checkpoint, signals."""
        from tf_nst import images
        from tf_nst.progress import format_losses
        self.progress.update(st.steps_done, st.losses)
        if FLAGS.print_every and st.steps_done % FLAGS.print_every == 0:
            self.progress.log(f"step {st.steps_done}: {format_losses(st.losses, per_layer=True)}")
        snapshot = FLAGS.save_every and st.steps_done % FLAGS.save_every == 0
        logged = self.logger is not None and (snapshot or st.steps_done == self.config.num_steps)
        image = st.image if snapshot or logged else None  # computed once per step
        if snapshot:
            with self.signals.critical():
                images.write_image(snapshot_path(FLAGS.output, st.steps_done), image)
        if self.logger is not None:
            self.logger.scalars(st.steps_done, st.losses)
            if logged:
                self.logger.image(st.steps_done, image)
        if st.steps_done % FLAGS.checkpoint_every == 0:
            self.save_checkpoint(st)
        self.signals.check()  # between steps, where state and step count agree

    def save_checkpoint(self, st) -> None:
        if self.saver is not None and st.steps_done != self.saved_step:
            with self.signals.critical():
                self.saver.save(st.state, st.steps_done)
            self.saved_step = st.steps_done

    def _interrupted(self, signum: int) -> "NoReturn":  # noqa: F821
        """Ends the command after SIGINT/SIGTERM, leaving what the run had made so far."""
        self.signals.ignore()
        name = signal.Signals(signum).name
        if self.progress is not None:
            self.progress.log("")
        transfer = self.transfer
        if transfer is None or self.progress is None:
            _fail(f"interrupted by {name} before the first step; nothing written", 128 + signum)
        _fail(f"interrupted by {name} at step {transfer.steps_done}/{transfer.config.num_steps}; "
              f"{_leave_partial(transfer, self.save_checkpoint)}", 128 + signum)


def _check_memory(config) -> None:
    """:class:`~tf_nst.resources.ResourceError` if the run clearly cannot fit in memory. The output
    size comes from the content's header (no decoding); the styles count as square, the worst
    case, as does an unreadable content (the real read reports it)."""
    from PIL import Image

    from tf_nst import images, resources
    side, style_side = config.image_size, config.style_side()
    try:
        with Image.open(FLAGS.content) as im:
            height, width = images.scaled_size(im.height, im.width, side)
    except Exception:
        height = width = side
    resources.check(config, height, width, FLAGS.memory_limit_gb * resources.GB or None,
                    style_side, style_side, checkpointing=bool(FLAGS.checkpoint_dir))


def _first_line(config, height: int, width: int) -> str:
    """What runs: size, optimiser, precision, steps, the coarse-to-fine and tiling schedule."""
    schedule = ("" if config.scales == 1 else
                f" (coarse to fine: {'/'.join(map(str, config.scale_steps))} steps at "
                f"{'/'.join(map(str, config.scale_sizes))} px)")
    tiled = [str(size) for size in config.scale_sizes if config.tiled(size)]
    if tiled:
        schedule += (f" in tiles of {config.tile_size} px at {'/'.join(tiled)} px "
                     f"({config.tile_sweeps} sweeps)")
    precision = config.compute_precision + (" (auto)" if config.precision == "auto" else "")
    return (f"{PROGRAM}: {width}x{height} px, {config.optimizer}, {precision}, "
            f"{config.num_steps} steps{schedule}, content_weight={config.content_weight:g} "
            f"style_weight={config.style_weight:g} ({config.formulation})"
            + (f", preset {FLAGS.preset}" if FLAGS.preset else ""))


def _ramp_warning(config, weights) -> str | None:
    """A warning when a scale ends before the style-weight ramp does, else None."""
    from tf_nst.objective import ramped_weights
    ramp, shortest = config.style_ramp_steps, min(config.scale_steps)
    if not 0 < shortest < ramp:
        return None
    unit = weights._replace(style=1.0)  # the ramp's factor alone
    reached = float(ramped_weights(unit, shortest).style)
    return (f"{PROGRAM}: warning: {shortest} steps end before the style-weight ramp "
            f"(--style_ramp_steps={ramp}): the style weight reaches only {reached:.2g} x "
            "--style_weight; lower --style_ramp_steps or set it to 0")


def _resume(saver, transfer, num_steps: int):
    """The checkpoint to resume from, or None; a foreign or overshooting checkpoint is refused
    (CheckpointError) unless --overwrite, which discards it. ``transfer`` is moved to the scale
    of the checkpoint's step (see StyleTransfer.seek)."""
    from tf_nst.checkpoint import CheckpointError

    def template(steps_done: int):
        if steps_done > num_steps:
            raise CheckpointError(
                f"--checkpoint_dir={saver.directory} is at step {steps_done}, beyond "
                f"--num_steps={num_steps}; raise --num_steps, use another --checkpoint_dir, or pass "
                "--overwrite to discard it")
        return transfer.seek(steps_done)

    try:
        return saver.restore(template)
    except CheckpointError:
        if not FLAGS.overwrite:
            raise
        saver.discard()
        transfer.seek(0)  # back to the start, in case the broken checkpoint moved it
        return None


def _remove_stale_partial(output: str) -> None:
    """The finished image supersedes the NAME.partial.EXT an interrupted run of it left."""
    try:
        os.remove(partial_path(output))
    except FileNotFoundError:
        pass
    except OSError as err:
        print(f"{PROGRAM}: note: could not remove {partial_path(output)} ({err})", file=sys.stderr)


def _leave_partial(transfer, save_checkpoint) -> str:
    """Writes the current image as NAME.partial.EXT (and a checkpoint); says what was done."""
    from tf_nst import images
    from tf_nst.checkpoint import CheckpointError
    if transfer.steps_done == 0:
        return f"nothing written ({FLAGS.output} untouched)"
    notes = []
    partial = partial_path(FLAGS.output)
    try:
        images.write_image(partial, transfer.image, overwrite=True)
        notes.append(f"PARTIAL image of step {transfer.steps_done} written to {partial}")
    except images.ImageError as err:
        notes.append(f"could not write the partial image ({err})")
    if save_checkpoint is not None and FLAGS.checkpoint_dir:
        try:
            save_checkpoint(transfer)
            notes.append(f"checkpoint in {FLAGS.checkpoint_dir}: run the same command to resume")
        except CheckpointError as err:
            notes.append(str(err))
    notes.append(f"{FLAGS.output} not written")
    return "; ".join(notes)


def run() -> None:
    """Console-script entry point."""
    from tf_nst import startup
    from tf_nst import aliases
    app.run(startup.reporting_on_stderr(main), flags_parser=usage.flag_parser(
        PROGRAM, HELP_GROUPS, USAGE, aliases.ALIASES))


if __name__ == "__main__":
    run()
