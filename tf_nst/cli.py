"""The ``tf-nst`` command: stylise a content image with a style image.

    tf-nst --content=photo.jpg --style=painting.jpg --output=out.png [--preset=gatys2016]

The hyper-parameter flags come from :class:`tf_nst.config.Config`; neural-style's flags are read
too (:mod:`tf_nst.aliases`).
"""

from __future__ import annotations

import functools

from absl import app, flags

from tf_nst import flags as config_flags
from tf_nst import aliases, presets, startup, usage

PROGRAM = "tf-nst"

presets.define_preset_flag(module_name=__name__)

flags.DEFINE_string("content", None, "Content image (the photo to repaint). Several: comma-"
                    "separated paths and/or a quoted glob ('photos/*.jpg'), with --output=DIR/.")
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
                    "--checkpoint_every steps, on Ctrl-C/SIGTERM and at the end; run again with "
                    "the same flags to resume from the newest checkpoint (same result as an "
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
_fail = functools.partial(usage.fail, PROGRAM)

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


def main(argv: list[str]) -> int:
    from tf_nst.run_files import Signals
    signals = Signals()
    # Imported here so that --help and bad flags answer without loading TensorFlow.
    from tf_nst import command
    from tf_nst.config import ConfigError
    try:  # every flag checked before TensorFlow loads (seconds)
        if not FLAGS.content or not FLAGS.style:
            raise ConfigError("--content and --style are required")
        config = config_flags.config_from_flags(FLAGS)
        command.check_video_flags(FLAGS)
    except ConfigError as err:
        _fail(str(err), 2)
    startup.start_tensorflow()
    return command.main(FLAGS, config, signals, PROGRAM, _fail)


def flag_parser():
    """The command line's parser: this command's short help, presets and neural-style's flags
    (:func:`tf_nst.usage.flag_parser`)."""
    return usage.flag_parser(PROGRAM, HELP_GROUPS, USAGE, aliases.ALIASES)


def run() -> None:
    """Console-script entry point."""
    app.run(startup.reporting_on_stderr(main), flags_parser=flag_parser())


if __name__ == "__main__":
    run()
