"""The ``tf-nst`` command: stylise a content image with a style image.

    tf-nst --content=photo.jpg --style=painting.jpg --output=out.png
    tf-nst --flagfile=configs/gatys2016.cfg --content=... --style=... --output=out.png

Every hyper-parameter flag comes from :class:`tf_nst.config.Config`; ``--helpfull`` lists them all.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from tf_nst import flags as config_flags

PROGRAM = "tf-nst"

flags.DEFINE_string("content", None, "Content image (the photo to repaint).")
flags.DEFINE_list("style", None, "Style image (the painting whose texture is transferred), or a "
                  "comma-separated list of them, blended with --style_blend_weights.")
flags.DEFINE_list("style_masks", None, "One mask image per --style image: style i goes where mask "
                  "i is white (guided Gram matrices, Gatys et al. 2017). Any size; resized to the "
                  "output.")
flags.DEFINE_string("content_mask", None, "Mask image: where it is white the content is kept "
                    "unstylised (no style loss there; the content's pixels are pasted back).")
flags.DEFINE_string("logdir", None, "Write TensorBoard logs here: every loss term at every step, "
                    "the image every --save_every steps and at the end.")
flags.DEFINE_string("output", "out.png", "Output image; .png or .jpg/.jpeg. Written atomically.")
flags.DEFINE_boolean("overwrite", False, "Replace --output if it already exists.")
flags.DEFINE_integer("print_every", 50, "Log every loss term, per layer too, every N steps "
                     "(0 = never).", lower_bound=0)
flags.DEFINE_integer("save_every", 0, "Also write the current image every N steps, next to "
                     "--output as NAME_STEP.EXT (0 = never).", lower_bound=0)
config_flags.define_config_flags()

FLAGS = flags.FLAGS


def _fail(message: str, status: int = 1) -> "NoReturn":  # noqa: F821
    sys.stderr.write(f"{PROGRAM}: error: {message}\n")
    sys.exit(status)


def snapshot_path(output: str, step: int) -> str:
    stem, ext = os.path.splitext(output)
    return f"{stem}_{step:05d}{ext}"


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        _fail(f"unexpected arguments: {' '.join(argv[1:])}", 2)
    # Imported here so that --help answers without loading TensorFlow.
    from tf_nst import images
    from tf_nst.config import ConfigError
    from tf_nst.features import WeightsError
    from tf_nst.progress import Progress, format_losses
    from tf_nst.summaries import LogdirError, SummaryLogger
    from tf_nst.transfer import StyleTransfer

    try:
        if not FLAGS.content or not FLAGS.style:
            raise ConfigError("--content and --style are required")
        config = config_flags.config_from_flags(FLAGS)
        images.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)
        transfer = StyleTransfer(FLAGS.content, FLAGS.style, config,
                                 style_masks=FLAGS.style_masks, content_mask=FLAGS.content_mask)
        logger = None
        if FLAGS.logdir:
            logger = SummaryLogger(FLAGS.logdir)
    except (ConfigError, images.ImageError, WeightsError, LogdirError) as err:
        _fail(str(err), 2 if isinstance(err, ConfigError) else 1)

    progress = Progress(config.num_steps, every=FLAGS.print_every or 50)
    height, width = transfer.content.shape[1:3]
    schedule = ("" if config.scales == 1 else
                f" (coarse to fine: {'/'.join(map(str, config.scale_steps))} steps at "
                f"{'/'.join(map(str, config.scale_sizes))} px)")
    progress.log(f"{PROGRAM}: {width}x{height} px, {config.optimizer}, {config.num_steps} steps"
                 f"{schedule}, content_weight={config.content_weight:g} "
                 f"style_weight={config.style_weight:g}")

    def on_step(st: StyleTransfer) -> None:
        progress.update(st.steps_done, st.losses)
        if FLAGS.print_every and st.steps_done % FLAGS.print_every == 0:
            progress.log(f"step {st.steps_done}: {format_losses(st.losses, per_layer=True)}")
        snapshot = FLAGS.save_every and st.steps_done % FLAGS.save_every == 0
        if snapshot:
            images.write_image(snapshot_path(FLAGS.output, st.steps_done), st.image)
        if logger is not None:
            logger.scalars(st.steps_done, st.losses)
            if snapshot or st.steps_done == config.num_steps:
                logger.image(st.steps_done, st.image)

    try:
        image = transfer.run(callback=on_step)
        images.write_image(FLAGS.output, image, overwrite=FLAGS.overwrite)
    except KeyboardInterrupt:
        progress.log("")
        _fail(f"interrupted at step {transfer.steps_done}; {FLAGS.output} not written", 130)
    except images.ImageError as err:
        _fail(str(err))
    finally:
        if logger is not None:
            logger.close()
    progress.log(f"{PROGRAM}: wrote {FLAGS.output}")
    return 0


def run() -> None:
    """Console-script entry point."""
    app.run(main, flags_parser=config_flags.flag_parser(PROGRAM))


if __name__ == "__main__":
    run()
