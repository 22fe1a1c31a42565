"""A command's front door: :func:`flag_parser` reads its command line (neural-style's flags,
``--preset``), answers ``--help`` with one line per flag (absl's ``--helpfull`` prints hundreds)
and a bad flag with one line naming the closest real one; :func:`fail` ends a command in one line.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import os
import shutil
import sys
import textwrap
from typing import Callable, Iterable, Mapping, NoReturn, Sequence

from absl import flags

from tf_nst import aliases as aliases_lib
from tf_nst import config as config_lib
from tf_nst import presets

HELP_ARGS = frozenset({"h", "help", "?", "helpshort"})


def asks_for_help(argv: Sequence[str]) -> bool:
    """Whether ``argv`` holds ``-h``, ``--help``, ``-?`` or ``--helpshort`` before any ``--``."""
    args = itertools.takewhile(lambda arg: arg != "--", argv[1:])
    return any(arg.startswith("-") and arg.lstrip("-") in HELP_ARGS for arg in args)


def first_sentence(text: str) -> str:
    """``text`` up to its first '.' or ';' that ends a clause outside parentheses."""
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char in ".;" and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i + 1] if char == "." else text[:i]
    return text


def _default(flag: flags.Flag) -> str:
    value = flag.default
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "=" + str(value).lower()
    if isinstance(value, list):
        return "=" + ",".join(map(str, value))
    if isinstance(value, float):
        return f"={value:g}"
    return f"={value}"


def flag_line(flag: flags.Flag, width: int) -> str:
    """``  --name=DEFAULT  first sentence of the help``, cut to ``width`` characters."""
    name = f"  --{flag.name}{_default(flag)}"
    line = f"{name:<30}  {first_sentence(' '.join(flag.help.split()))}"
    if len(line) > width:
        line = line[:width - 3].rsplit(" ", 1)[0] + "..."
    return line


def short_help(head: str, groups: Mapping[str, Sequence[str]], flag_values: flags.FlagValues,
               foot: str = "", width: int | None = None) -> str:
    """``head``, then each group's flags (names in ``groups``) one line each, then ``foot``."""
    width = width or min(max(shutil.get_terminal_size((100, 24)).columns, 80), 160)
    lines = [head.rstrip("\n")]
    for group, names in groups.items():
        lines.append(f"{group}:")
        lines.extend(flag_line(flag_values[name], width) for name in names)
    if foot:
        lines.append(foot.rstrip("\n"))
    return "\n".join(lines) + "\n"


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (:func:`difflib.get_close_matches`: ``stlye`` is
    ``style``), or None when none is close."""
    return next(iter(difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)), None)


def fail(program: str, message: object, status: int = 1) -> NoReturn:
    """End a command: ``PROGRAM: error: MESSAGE`` on one line of standard error, exit ``status``."""
    sys.stderr.write(f"{program}: error: {' '.join(str(message).split())}\n")
    sys.exit(status)


_HELP_FLAGS = HELP_ARGS | {"helpfull", "helpxml"}
_FULL_HELP = ("--helpfull: every flag's whole help, absl's own too; --flagfile=PATH reads flags "
              "from a file.")


def flag_parser(program: str, groups: Mapping[str, Sequence[str]] | None = None, usage: str = "",
                aliases: Mapping[str, aliases_lib.Alias] | None = None,
                ) -> Callable[[list[str]], list[str]]:
    """An ``absl.app`` flags parser: ``-h``/``--help`` print ``usage`` and the flags of the
    command's ``groups``, then the hyper-parameters'; neural-style's flags are read through
    ``aliases``; a bad flag, alias or preset, or a stray argument, is one line, exit status 2."""
    groups = {**(groups or {}), **config_lib.groups()}
    usage = usage or f"usage: {program} [flags]"
    aliases = aliases or {}
    foot = [_FULL_HELP]  # the short help's last lines: the rest, and neural-style's flags if taken
    if aliases:
        foot += textwrap.wrap("neural-style's flags (one dash; as neural-style means them): "
                              + " ".join(f"-{name}" for name in aliases), 100)
    bad_flag = functools.partial(fail, program, status=2)

    def parse(argv: list[str]) -> list[str]:
        if asks_for_help(argv):
            sys.stdout.write(short_help(usage, groups, flags.FLAGS, "\n".join(foot)))
            sys.exit(0)
        try:
            translation = aliases_lib.translate(argv, aliases)
            argv, preset = presets.expand(translation.argv)
            rest = flags.FLAGS(argv)
        except SystemExit as exit_:  # absl exits with 1 after printing the help it was asked for
            asked = any(arg.lstrip("-").split("=")[0] in _HELP_FLAGS for arg in argv[1:])
            sys.exit(0 if asked and exit_.code == 1 else exit_.code)
        except config_lib.ConfigError as err:  # a bad preset or neural-style flag
            bad_flag(str(err))
        except flags.UnrecognizedFlagError as err:
            bad_flag(_unknown_flag(err.flagname, groups, aliases))
        except flags.Error as err:
            bad_flag(f"{err} (see --helpfull)")
        if "preset" in flags.FLAGS and flags.FLAGS.preset != preset:
            bad_flag("--preset is read from the command line only; in a flagfile, use "
                     "--flagfile=PATH of the preset instead")
        if len(rest) > 1:
            bad_flag(f"unexpected arguments: {' '.join(rest[1:])}")
        os.environ.update(translation.environ)  # before TensorFlow loads (-gpu)
        for note in translation.notes:
            sys.stderr.write(f"{program}: note: {note}\n")
        return rest

    return parse


def _unknown_flag(name: str, groups: Mapping[str, Sequence[str]],
                  aliases: Mapping[str, aliases_lib.Alias]) -> str:
    """``unknown flag --NAME; did you mean --FLAG?``, the closest of the command's own flags and
    neural-style's (``-NAME``), if one is close."""
    known = {flag: f"--{flag}" for names in groups.values() for flag in names}
    known.setdefault("preset", "--preset")
    for alias in aliases:
        known.setdefault(alias, f"-{alias}")
    best = closest(name, known)
    guess = f"; did you mean {known[best]}?" if best else ""
    return f"unknown flag --{name}{guess} (--help lists the flags)"
