"""Batch mode of the ``tf-nst`` command: many content images, one style (or one blend of styles),
any strategy; or the frames of a video, in order.

    tf-nst --content='photos/*.jpg' --style=painting.jpg --output=out/     # out/ made if missing
    tf-nst --content=a.jpg,b.jpg --style=painting.jpg --output='out/{stem}_painting.jpg'
    tf-nst --content='photos/*.jpg' --style=a.jpg,b.jpg --style_blend_weights=0.7,0.3 --output=out/
    TF_CONFIG=... tf-nst --strategy=multi_worker --content='photos/*.jpg' ... --output=out/
    tf-nst --video --content='frames/*.png' --style=painting.jpg --output=styled/

Everything is checked before the run (every input read, every output name free, no two inputs
written to one file); then results are written one by one as their batch finishes.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Callable, NamedTuple

from absl import flags

if TYPE_CHECKING:
    from tf_nst.config import Config


def wanted(flag_values: flags.FlagValues) -> bool:
    """Batch mode: several contents, an output directory or template, a strategy, or video."""
    from tf_nst.batch import is_batch
    return (is_batch(flag_values.content, flag_values.output) or "{stem}" in flag_values.output
            or flag_values.strategy != "default" or flag_values.video
            or flag_values["video_content_blend"].present)


def check_video_flags(flag_values: flags.FlagValues) -> None:
    """:class:`~tf_nst.config.ConfigError` for video flags that cannot go together (flags alone:
    the command checks them before TensorFlow loads)."""
    from tf_nst.config import ConfigError

    if flag_values["video_content_blend"].present and not flag_values.video:
        raise ConfigError("--video_content_blend: only with --video")
    if flag_values.video and (flag_values.strategy != "default" or flag_values.batch_size):
        raise ConfigError(f"--video: frames are stylised one after another (each starts from the "
                          f"previous result), so --strategy={flag_values.strategy} and "
                          f"--batch_size={flag_values.batch_size} cannot apply; drop them")


class _Plan(NamedTuple):
    """What a checked batch run will do."""

    contents: list[str]
    outputs: list[str]
    sizes: list[tuple[int, int]]
    blend: tuple[float, ...]
    strategy: object


def make_output_directory(output: str) -> list[str]:
    """An ``--output`` directory (``out/``, ending in a separator) that does not exist yet is
    made, with its missing parents; returns the directories made, outermost first, for
    :func:`remove_directories`. OSError if it cannot be made."""
    if not output.endswith(("/", os.sep)) or os.path.isdir(output):
        return []
    missing, folder = [], os.path.abspath(output)
    while not os.path.exists(folder):
        missing.insert(0, folder)
        folder = os.path.dirname(folder)
    os.makedirs(output, exist_ok=True)
    return missing


def remove_directories(made: list[str]) -> None:
    """Removes the directories :func:`make_output_directory` made, if still empty (a run refused
    after making them leaves nothing behind)."""
    for folder in reversed(made):
        try:
            os.rmdir(folder)
        except OSError:
            return


def _plan(FLAGS: flags.FlagValues, config: Config) -> _Plan:
    """Checks everything before the run (ConfigError, ImageError, StrategyError). Nothing here
    runs a TensorFlow op: a multi-worker strategy must be created before TensorFlow initialises
    its devices."""
    from tf_nst import batch, images
    from tf_nst.config import INIT_NAMED, ConfigError
    from tf_nst.distribute import make_strategy
    from tf_nst.inputs import check_large_enough

    unsupported = [name for name, used in (
        ("--save_every", FLAGS.save_every), ("--style_masks", FLAGS.style_masks),
        ("--content_mask", FLAGS.content_mask), ("--logdir", FLAGS.logdir),
        ("--checkpoint_dir", FLAGS.checkpoint_dir), ("--scales", config.scales > 1),
        ("--tile_size", config.tiling),
        ("--original_colors", config.original_colors),
        ("--color_transfer", config.color_transfer != "none")) if used]
    if unsupported:
        raise ConfigError(f"{', '.join(unsupported)}: not supported yet with several content "
                          "images, --strategy or --video")
    blend = config.resolved_style_blend_weights(len(FLAGS.style))  # one weight per style
    contents = batch.expand_contents(FLAGS.content)
    outputs = batch.plan_outputs(contents, FLAGS.output, FLAGS.output_format, FLAGS.overwrite)
    for style in FLAGS.style:
        image = images.read_image(style, max_pixels=config.max_pixels)
        check_large_enough(config, "style", *images.scaled_size(
            image.shape[0], image.shape[1], config.style_side()))
    if config.init not in INIT_NAMED:
        images.read_image(config.init, max_pixels=config.max_pixels)
    sizes = batch.content_sizes(contents, config)
    return _Plan(contents, outputs, sizes, blend, make_strategy(FLAGS.strategy, FLAGS.tpu))


def main(FLAGS: flags.FlagValues, config: Config, program: str,
         fail: Callable[..., None]) -> int:
    """Batch mode, for ``config`` (the flags' hyper-parameters, checked by the command with
    :func:`check_video_flags` before TensorFlow loaded)."""
    from tf_nst import images
    from tf_nst.config import ConfigError
    from tf_nst.distribute import StrategyError

    try:
        made = make_output_directory(FLAGS.output)
    except OSError as err:
        fail(f"--output={FLAGS.output}: cannot create the directory ({err.strerror or err})")
    try:
        plan = _plan(FLAGS, config)
    except (ConfigError, images.ImageError, StrategyError) as err:
        remove_directories(made)
        fail(str(err), 2 if isinstance(err, ConfigError) else 1)
    return _run(FLAGS, config, plan, program, fail)


def _first_line(FLAGS: flags.FlagValues, config: Config, plan: _Plan, tag: str) -> str:
    """What the run will do, in one line."""
    from tf_nst import batch

    blend = plan.blend
    styles = (f"{len(blend)} styles blended {'/'.join(f'{w:.2g}' for w in blend)}, "
              if len(blend) > 1 else "")
    preset = f", preset {FLAGS.preset}" if FLAGS.preset else ""
    if FLAGS.video:
        return (f"{tag}: {len(plan.contents)} frames in order, each from the previous result "
                f"(content blend {FLAGS.video_content_blend:g}), {styles}{config.image_size} px, "
                f"{config.optimizer}, {config.num_steps} steps per frame{preset}")
    batches = batch.plan_batches(plan.sizes, FLAGS.batch_size or None)
    replicas = plan.strategy.num_replicas_in_sync if plan.strategy is not None else 1
    return (f"{tag}: {len(plan.contents)} images in {len(batches)} batches, {styles}"
            f"{config.image_size} px, {config.optimizer}, {config.num_steps} steps, "
            f"{replicas} replica(s) ({FLAGS.strategy}){preset}")


def _run(FLAGS: flags.FlagValues, config: Config, plan: _Plan, program: str,
         fail: Callable[..., None]) -> int:
    """Stylises the checked ``plan``, writing each result as its batch (or frame) finishes."""
    from tf_nst import batch, images
    from tf_nst.distribute import worker_index
    from tf_nst.features import WeightsError
    from tf_nst.health import NumericalError
    from tf_nst.progress import format_losses

    stream = sys.stderr
    interactive = bool(getattr(stream, "isatty", lambda: False)())
    tag = (f"{program}[worker {worker_index(plan.strategy)}]"
           if FLAGS.strategy == "multi_worker" else program)

    def log(message: str) -> None:
        stream.write(("\r\x1b[K" if interactive else "") + message + "\n")
        stream.flush()

    log(_first_line(FLAGS, config, plan, tag))
    written: list[str] = []
    unit = "frames" if FLAGS.video else "images"

    def on_progress(status: batch.BatchStatus) -> None:
        line = f"{tag}: {status.line()}"
        if FLAGS.print_every and status.terms is not None and status.step % FLAGS.print_every == 0:
            log(f"{line} | {format_losses(status.losses())}")
        elif interactive:
            stream.write("\r" + line + "\x1b[K")
            stream.flush()
        elif status.finished:
            log(line)

    def on_result(index: int, image) -> None:
        images.write_image(plan.outputs[index], image, overwrite=FLAGS.overwrite)
        written.append(plan.outputs[index])

    try:
        if FLAGS.video:
            batch.stylize_frames(plan.contents, FLAGS.style, config, FLAGS.video_content_blend,
                                 on_progress=on_progress, on_result=on_result)
        else:
            batch.stylize_batch(plan.contents, FLAGS.style, config,
                                batch_size=FLAGS.batch_size or None, strategy=plan.strategy,
                                on_progress=on_progress, on_result=on_result, sizes=plan.sizes)
    except KeyboardInterrupt:
        fail(f"interrupted; {len(written)} of {len(plan.contents)} {unit} written", 130)
    except (images.ImageError, WeightsError, NumericalError) as err:
        fail(f"{err} ({len(written)} of {len(plan.contents)} {unit} written)")
    into = f" into {FLAGS.output}" if batch.is_directory_output(FLAGS.output) else ""
    log(f"{tag}: wrote {len(written)} {unit}{into}")
    return 0
