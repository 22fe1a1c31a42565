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

flags.DEFINE_string("content", None, "Content image (the photo to repaint). Several: comma-separated "
                    "paths and/or a quoted glob ('photos/*.jpg'), with --output=DIR/.")
flags.DEFINE_string("style", None, "Style image (the painting whose texture is transferred).")
flags.DEFINE_string("output", "out.png", "Output image; .png or .jpg/.jpeg. Written atomically. "
                    "For several content images: an existing directory ending in / (one file per "
                    "input, named after it) or a name with {stem}.")
flags.DEFINE_boolean("overwrite", False, "Replace --output if it already exists.")
flags.DEFINE_integer("print_every", 50, "Log every loss term, per layer too, every N steps "
                     "(0 = never).", lower_bound=0)
flags.DEFINE_integer("save_every", 0, "Also write the current image every N steps, next to "
                     "--output as NAME_STEP.EXT (0 = never).", lower_bound=0)
flags.DEFINE_enum("output_format", None, ["png", "jpg", "jpeg"], "Batch mode: format of the files "
                  "written into an --output directory (default png).")
flags.DEFINE_integer("batch_size", 0, "Batch mode: at most this many images (of the same size) are "
                     "optimised together (0 = all images of a size).", lower_bound=0)
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy: default (one device), mirrored (all GPUs of this "
                  "machine), multi_worker (machines listed in TF_CONFIG), tpu. Each replica "
                  "optimises its share of the images.")
flags.DEFINE_string("tpu", "", "--strategy=tpu: TPU name or grpc:// address for "
                    "TPUClusterResolver (empty = Colab / TPU VM default).")
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
    from tf_nst.transfer import StyleTransfer
    from tf_nst import batch_cli

    if FLAGS.content and FLAGS.style and batch_cli.wanted(FLAGS):
        return batch_cli.main(FLAGS, PROGRAM, _fail)
    try:
        if not FLAGS.content or not FLAGS.style:
            raise ConfigError("--content and --style are required")
        config = config_flags.config_from_flags(FLAGS)
        images.check_output_path(FLAGS.output, overwrite=FLAGS.overwrite)
        transfer = StyleTransfer(FLAGS.content, FLAGS.style, config)
    except (ConfigError, images.ImageError, WeightsError) as err:
        _fail(str(err), 2 if isinstance(err, ConfigError) else 1)

    progress = Progress(config.num_steps, every=FLAGS.print_every or 50)
    height, width = transfer.content.shape[1:3]
    progress.log(f"{PROGRAM}: {width}x{height} px, {config.optimizer}, {config.num_steps} steps, "
                 f"content_weight={config.content_weight:g} style_weight={config.style_weight:g}")

    def on_step(st: StyleTransfer) -> None:
        progress.update(st.steps_done, st.losses)
        if FLAGS.print_every and st.steps_done % FLAGS.print_every == 0:
            progress.log(f"step {st.steps_done}: {format_losses(st.losses, per_layer=True)}")
        if FLAGS.save_every and st.steps_done % FLAGS.save_every == 0:
            images.write_image(snapshot_path(FLAGS.output, st.steps_done), st.image)

    try:
        image = transfer.run(callback=on_step)
        images.write_image(FLAGS.output, image, overwrite=FLAGS.overwrite)
    except KeyboardInterrupt:
        progress.log("")
        _fail(f"interrupted at step {transfer.steps_done}; {FLAGS.output} not written", 130)
    except images.ImageError as err:
        _fail(str(err))
    progress.log(f"{PROGRAM}: wrote {FLAGS.output}")
    return 0


def run() -> None:
    """Console-script entry point."""
    app.run(main, flags_parser=config_flags.flag_parser(PROGRAM))


if __name__ == "__main__":
    run()
