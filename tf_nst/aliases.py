"""neural-style's vocabulary: :func:`translate` rewrites the flags of jcjohnson/neural-style and
neural-style-pt (``-content_image photo.jpg -init random``), as their users mean them, into
tf-nst's before absl reads them. A name that tf-nst has too (``-init``) is neural-style's with one
dash and tf-nst's own with two (``--init=noise``).
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Callable, Mapping, NamedTuple, Sequence

from tf_nst.config import ConfigError

WEIGHTS_NOTE = ("-content_weight/-style_weight/-tv_weight set tf-nst's weights, whose losses are "
                "the paper's sums and means, not neural-style's: neural-style's values do not "
                "carry over (see --help for tf-nst's defaults)")
KERNELS_NOTE = ("-backend and -cudnn_autotune are ignored: TensorFlow (oneDNN, cuDNN) chooses the "
                "kernels")
LEARNING_RATE_NOTE = ("-learning_rate {value} is in neural-style's 0-255 pixel units: divided by "
                      "255 for tf-nst's pixels in [0, 1] (--learning_rate={ours})")
SEED_NOTE = "-seed {value} (neural-style: unseeded): drew --seed={ours}; pass it to repeat the run"


class AliasError(ConfigError):
    """A neural-style flag with a value it cannot take, or without its value; one line."""


def _choice(choices: Mapping[str, str], others: bool) -> Callable[[str], str]:
    """neural-style's names of values to tf-nst's; other values pass through if ``others``."""
    def convert(value: str) -> str:
        if value not in choices and not others:
            raise ValueError(f"must be {' or '.join(choices)}")
        return choices.get(value, value)
    return convert


def _pixels_0_255(value: str) -> str:
    return f"{float(value) / 255:.6g}"


def _seed(value: str) -> str:
    """neural-style draws a seed for a negative one; tf-nst's seed is always set, so draw it."""
    return str(secrets.randbelow(2 ** 31)) if int(value) < 0 else value


def _devices(value: str) -> str:
    """-gpu: -1 or c = the CPU (no GPU visible); N or N,M = those GPUs (CUDA_VISIBLE_DEVICES)."""
    if value.strip() in ("-1", "c"):
        return "-1"
    indices = [part.strip() for part in value.split(",")]
    if not all(index.isdigit() for index in indices):
        raise ValueError("must be -1 or c (the CPU), or GPU numbers like 0 or 0,1")
    return ",".join(indices)


@dataclasses.dataclass(frozen=True)
class Alias:
    """One neural-style flag: the tf-nst flag it sets (or the environment variable, or nothing:
    ignored), how its value converts, and the note said once when it is used (``{value}`` and
    ``{ours}`` are filled in; a note only for changed values if ``note_if_changed``)."""

    flag: str | None = None
    convert: Callable[[str], str] = str
    note: str = ""
    takes_value: bool = True
    environ: str | None = None
    note_if_changed: bool = False


ALIASES: dict[str, Alias] = {
    "content_image": Alias("content"),
    "style_image": Alias("style"),  # comma-separated, as in neural-style
    "output_image": Alias("output"),
    "num_iterations": Alias("num_steps"),
    "print_iter": Alias("print_every"),
    "save_iter": Alias("save_every"),
    "init": Alias("init", _choice({"random": "noise", "image": "content"}, others=True)),
    "original_colors": Alias("original_colors", _choice({"0": "false", "1": "true"}, others=False)),
    "style_blend_weights": Alias("style_blend_weights"),
    "style_scale": Alias("style_scale"),
    "image_size": Alias("image_size"),
    "content_weight": Alias("content_weight", note=WEIGHTS_NOTE),
    "style_weight": Alias("style_weight", note=WEIGHTS_NOTE),
    "tv_weight": Alias("tv_weight", note=WEIGHTS_NOTE),
    "content_layers": Alias("content_layers"),
    "style_layers": Alias("style_layers"),
    "seed": Alias("seed", _seed, SEED_NOTE, note_if_changed=True),
    "pooling": Alias("pooling"),
    "optimizer": Alias("optimizer"),
    "learning_rate": Alias("learning_rate", _pixels_0_255, LEARNING_RATE_NOTE),
    "gpu": Alias(convert=_devices, environ="CUDA_VISIBLE_DEVICES"),
    "backend": Alias(note=KERNELS_NOTE),
    "cudnn_autotune": Alias(note=KERNELS_NOTE, takes_value=False),
}


class Translation(NamedTuple):
    """A command line in tf-nst's flags, the notes to print, the environment to set."""

    argv: list[str]
    notes: list[str]
    environ: dict[str, str]


def translate(argv: Sequence[str], aliases: Mapping[str, Alias] = ALIASES) -> Translation:
    """``argv`` with every neural-style flag (``-name value`` or ``-name=value``) replaced by
    tf-nst's ``--flag=value``: a name of ``aliases`` with one dash, or with two where tf-nst has no
    flag of that name (``--content_image``). :class:`AliasError` for a bad value or a missing one.
    Nothing after ``--`` is read."""
    out, notes, environ = list(argv[:1]), {}, {}
    args = iter(argv[1:])
    for arg in args:
        dashes = len(arg) - len(arg.lstrip("-"))
        name, equals, value = arg[dashes:].partition("=")
        alias = aliases.get(name) if dashes in (1, 2) else None
        if arg == "--":
            out += [arg, *args]
        elif alias is None or (dashes == 2 and alias.flag == name):  # tf-nst's own flag
            out.append(arg)
        else:
            if alias.takes_value and not equals:
                value = next(args, None)
                if value is None:
                    raise AliasError(f"-{name} needs a value (-{name} VALUE)")
            try:
                ours = alias.convert(value) if alias.takes_value else ""
            except ValueError as err:
                reason = str(err) if str(err).startswith("must") else "not a number"
                raise AliasError(f"-{name} {value}: {reason}") from None
            if alias.flag:
                out.append(f"--{alias.flag}={ours}")
            if alias.environ:
                environ[alias.environ] = ours
            if alias.note and (ours != value or not alias.note_if_changed):
                notes[alias.note.format(value=value, ours=ours)] = None
    return Translation(out, list(notes), environ)
