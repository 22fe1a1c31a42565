"""``python -m tf_nst.visualize SUBCOMMAND ...``: parse, check --output, draw, write it whole.

A bad flag, image or output path is one line ``tf_nst.visualize SUBCOMMAND: error: ...`` on
standard error and exit status 2; an existing --output is kept unless --overwrite.
"""

from __future__ import annotations

import sys
from typing import Sequence

from tf_nst.visualize import ablation, common, creative, feature_maps, gram, sweep

PROG = "tf_nst.visualize"
TOOLS = {"feature-maps": feature_maps, "gram": gram, "sweep": sweep, "ablation": ablation,
         "creative": creative}


def parser() -> common.Parser:
    """The command line: one subcommand per tool, each with its own flags and --output."""
    top = common.Parser(prog=PROG, description="Figures of what neural style transfer works "
                        "with, as labelled image grids. 'SUBCOMMAND --help' lists its flags.")
    subcommands = top.add_subparsers(dest="tool", required=True, metavar="SUBCOMMAND",
                                     parser_class=common.Parser)
    for name, module in TOOLS.items():
        p = subcommands.add_parser(name, help=module.__doc__.splitlines()[0].split(": ", 1)[1],
                                   description=module.__doc__)
        module.add_arguments(p)
        p.add_argument("--output", required=True, help="the figure to write (.jpg, .png)")
        p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
        p.set_defaults(figure=module.figure, prog=p.prog)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from tf_nst import startup
    startup.start_tensorflow()  # without its native start-up log, as tf-nst
    from tf_nst import grid
    from tf_nst.features import WeightsError
    from tf_nst.health import NumericalError
    from tf_nst.images import check_output_path
    from tf_nst.usage import fail
    try:
        check_output_path(args.output, overwrite=args.overwrite)
        grid.save(args.figure(args), args.output)
    except (WeightsError, NumericalError, OSError, ValueError) as err:  # ImageError, ConfigError
        fail(args.prog, err, 2)
    common.say(args, f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
