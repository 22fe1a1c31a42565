"""Shared start-up of the visual tools: import path, argument errors, one-line failures."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as `python tools/NAME.py` from a checkout
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=prog, description=description)


def add_transfer_args(p: argparse.ArgumentParser, steps: int = 100) -> None:
    p.add_argument("--content", required=True, help="content image")
    p.add_argument("--style", required=True, help="style image")
    p.add_argument("--image_size", type=int, default=256, help="longest side of each result")
    p.add_argument("--num_steps", type=int, default=steps, help="optimisation steps per result")
    p.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    p.add_argument("--init", default="content", help="content, noise, style or a path")
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    p.add_argument("--no_inputs", action="store_true",
                   help="leave the content and style images out of the grid")


def run(prog: str, main: Callable[[Sequence[str]], None], argv: Sequence[str] | None = None) -> int:
    """Run ``main``; a bad image, flag or output path is one line on stderr and status 1."""
    from tf_nst.config import ConfigError
    from tf_nst.features import WeightsError
    from tf_nst.images import ImageError
    try:
        main(sys.argv[1:] if argv is None else argv)
    except (ConfigError, ImageError, WeightsError, OSError, ValueError) as err:
        message = " ".join(str(err).split())
        sys.stderr.write(f"{prog}: error: {message}\n")
        return 1
    return 0


def parse_with_output(p: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` with ``--output`` and ``--overwrite`` added, and check the output path before
    anything is computed (:func:`tf_nst.images.check_output_path`, as ``tf-nst`` does)."""
    from tf_nst.images import check_output_path
    p.add_argument("--output", required=True, help="the figure to write (.jpg, .png)")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = p.parse_args(argv)
    check_output_path(args.output, overwrite=args.overwrite)
    return args


def save(prog: str, image, args: argparse.Namespace) -> None:
    """Write the figure (whole: :func:`tf_nst.grid.save` is atomic) and say so."""
    from tf_nst import grid
    grid.save(image, args.output)
    sys.stderr.write(f"{prog}: wrote {args.output}\n")


def inputs_cells(content, style, size: int):
    """The content and style images, at ``size`` (longest side), as grid cells."""
    from tf_nst.transfer import prepare
    return [prepare(content, size)[0].numpy(), prepare(style, size)[0].numpy()], ["content", "style"]
