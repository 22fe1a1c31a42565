"""What the visual tools share: their flags, reading the inputs, VGG19 features of an image, and
a grid of style transfers. Nothing here imports TensorFlow until a figure is computed."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``PROG: error: ...``) and exit status 2."""

    def error(self, message: str):
        from tf_nst.usage import fail
        fail(self.prog, message, 2)


def add_image_args(p: argparse.ArgumentParser) -> None:
    """The flags of the tools that look at one image through the network."""
    p.add_argument("--image", required=True, help="the image to look at")
    p.add_argument("--image_size", type=int, default=256, help="longest side fed to the network")
    p.add_argument("--pooling", default="max", choices=("max", "avg"))


def add_transfer_args(p: argparse.ArgumentParser, size: int = 256) -> None:
    """The flags of the tools that run style transfers (the meanings of ``tf-nst``'s)."""
    p.add_argument("--content", required=True, help="content image")
    p.add_argument("--style", required=True, help="style image (a,b: several, blended)")
    p.add_argument("--image_size", type=int, default=size, help="longest side of each result")
    p.add_argument("--num_steps", type=int, default=100, help="optimisation steps per result")
    p.add_argument("--optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    p.add_argument("--init", default="content", help="content, noise, style or a path")
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    p.add_argument("--no_inputs", action="store_true",
                   help="leave the content and style images out of the grid")


def say(args: argparse.Namespace, message: str) -> None:
    print(f"{args.prog}: {message}", file=sys.stderr, flush=True)


def positive_numbers(text: str) -> list[float]:
    """An argparse type: comma-separated positive numbers."""
    try:
        numbers = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        numbers = []
    if not numbers or any(not n > 0 for n in numbers):
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive numbers, comma-separated")
    return numbers


def features(args: argparse.Namespace, layer_names: Sequence[str]) -> list:
    """VGG19's features of ``--image`` at ``--image_size``: one ``[1, H, W, C]`` tensor per layer
    (paper or Keras names)."""
    from tf_nst import layers
    from tf_nst.features import FeatureExtractor
    from tf_nst.images import read_image
    from tf_nst.inputs import prepare
    names = [layers.keras_name(n) for n in layer_names]
    image = prepare(read_image(args.image), args.image_size)
    out = FeatureExtractor(names, pooling=args.pooling)(image)
    return [out[name] for name in names]


def transfer_config(args: argparse.Namespace, ratio: float | None = None, **fields):
    """The :class:`~tf_nst.config.Config` of one result: the flags', with alpha = 1 and
    beta = 1 / ``ratio`` when a ratio is given (else the library's weights)."""
    from tf_nst import Config
    if ratio is not None:
        fields.update(content_weight=1.0, style_weight=1.0 / ratio)
    return Config(image_size=args.image_size, num_steps=args.num_steps, optimizer=args.optimizer,
                  init=args.init, pooling=args.pooling, **fields)


def transfer_grid(args: argparse.Namespace, runs, columns: int | None = None):
    """A grid of ``--content`` and each ``--style`` (unless ``--no_inputs``), then the result of
    each run ``(label, config, extra)`` of ``runs(content, styles)``; ``extra`` holds
    :class:`~tf_nst.StyleTransfer` keyword arguments (``style`` replaces all the styles, blended,
    as the one to use)."""
    import numpy as np

    from tf_nst import StyleTransfer, grid
    from tf_nst.images import read_image
    from tf_nst.inputs import prepare
    content = read_image(args.content)
    styles = [read_image(p) for p in args.style.split(",") if p]
    cells, labels = [], []
    if not args.no_inputs:
        cells = [prepare(im, args.image_size)[0].numpy() for im in [content, *styles]]
        labels = ["content"] + (["style"] if len(styles) == 1 else
                                [f"style {chr(ord('A') + i)}" for i in range(len(styles))])
        blanks = -len(cells) % (columns or len(cells))  # the results start a row of their own
        cells, labels = cells + [np.ones_like(cells[0])] * blanks, labels + [""] * blanks
    for label, config, extra in runs(content, styles):
        extra = dict(extra)
        style = extra.pop("style", styles)
        cells.append(StyleTransfer(content, style, config, **extra).run())
        labels.append(label)
        say(args, f"{label}: done")
    return grid.make_grid(cells, labels, columns=columns)
