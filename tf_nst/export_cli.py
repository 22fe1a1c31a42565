"""The ``tf-nst-export`` command: export the whole optimisation as a SavedModel or a TFLite model
(:mod:`tf_nst.export`). The hyper-parameter flags (and ``--preset``) become the model's defaults.
"""

from __future__ import annotations

import functools
import os
import sys

from absl import app, flags, logging

from tf_nst import flags as config_flags
from tf_nst import presets, startup, usage

PROGRAM = "tf-nst-export"

presets.define_preset_flag(module_name=__name__)

flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"], "What to write.")
flags.DEFINE_string("export_dir", None, "saved_model: the model base directory; the SavedModel is "
                    "written to EXPORT_DIR/MODEL_VERSION/ as TF Serving expects.")
flags.DEFINE_integer("model_version", 1, "saved_model: numeric version subdirectory.",
                     lower_bound=0)
flags.DEFINE_string("output", None, "tflite: the .tflite file to write.")
flags.DEFINE_integer("max_steps", 1000, "saved_model: largest num_steps a request may ask for.",
                     lower_bound=0)
flags.DEFINE_integer("max_output_pixels", 1024 * 1024, "saved_model: largest optimised image "
                     "(content, and style after resizing) a request may ask for, in pixels. "
                     "Decoded inputs are bounded by --max_pixels.", lower_bound=1)
flags.DEFINE_enum("tflite_weights", "float32", ["float32", "float16"], "tflite: storage of the "
                  "network weights (float16 stores only them in half precision, a smaller file; "
                  "computation stays float32).")
flags.DEFINE_boolean("overwrite", False, "Replace an existing output.")
config_flags.define_config_flags()

FLAGS = flags.FLAGS
_fail = functools.partial(usage.fail, PROGRAM)

USAGE = (f"usage: {PROGRAM} --format=saved_model --export_dir=DIR | --format=tflite "
         "--output=FILE [flags]\nExports the whole optimisation; the hyper-parameters below are "
         "its defaults. Flags, with defaults:")
HELP_GROUPS = {"export": ("preset", "format", "export_dir", "model_version", "output", "max_steps",
                          "max_output_pixels", "tflite_weights", "overwrite")}


def main(argv: list[str]) -> int:
    from tf_nst.config import ConfigError

    try:  # flag errors first, before TensorFlow loads
        config = config_flags.config_from_flags(FLAGS)
        if FLAGS.format == "saved_model" and not FLAGS.export_dir:
            raise ConfigError("--export_dir is required with --format=saved_model")
        if FLAGS.format == "tflite" and not FLAGS.output:
            raise ConfigError("--output is required with --format=tflite")
    except ConfigError as err:
        _fail(str(err), 2)
    if not FLAGS["verbosity"].present:  # TensorFlow's saver logs each file it writes at INFO
        logging.set_verbosity(logging.WARNING)

    startup.start_tensorflow()
    from tf_nst import export
    from tf_nst.features import WeightsError

    try:
        if FLAGS.format == "saved_model":
            limits = export.Limits(FLAGS.max_steps, FLAGS.max_output_pixels)
            export.check_exportable(config, limits)
            target = os.path.join(FLAGS.export_dir, str(FLAGS.model_version))
            path = export.export_saved_model(config, target, limits, overwrite=FLAGS.overwrite)
        else:
            path = export.export_tflite(config, FLAGS.output, FLAGS.tflite_weights,
                                        overwrite=FLAGS.overwrite)
    except ConfigError as err:
        _fail(str(err), 2)
    except (export.ExportError, WeightsError, OSError) as err:
        _fail(str(err))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) \
        if os.path.isdir(path) else os.path.getsize(path)
    sys.stderr.write(f"{PROGRAM}: wrote {path} ({size / 1e6:.1f} MB)\n")
    return 0


def run() -> None:
    """Console-script entry point."""
    app.run(startup.reporting_on_stderr(main),
            flags_parser=usage.flag_parser(PROGRAM, HELP_GROUPS, USAGE))


if __name__ == "__main__":
    run()
