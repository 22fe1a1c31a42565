"""absl flags generated from :class:`tf_nst.config.Config`, so flags, presets and code agree.

Every hyper-parameter field becomes a flag of the same name, with the field's default and help
text; ``tf-nst`` and ``tf-nst-export`` both call :func:`define_config_flags` and read the result
back with :func:`config_from_flags`. :func:`flag_parser` is both commands' parser: short help,
neural-style's flags (:mod:`tf_nst.aliases`), presets, and one line for a bad flag.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
import textwrap
import typing
from typing import Any, Callable, Mapping, NoReturn, Sequence

from absl import flags

from tf_nst import aliases as aliases_lib
from tf_nst import config as config_lib
from tf_nst import presets
from tf_nst import usage as usage_lib


def _define(field: dataclasses.Field, flag_values: flags.FlagValues, module_name: str) -> None:
    kind = typing.get_type_hints(config_lib.Config)[field.name]
    default = field.default
    help_text = field.metadata["help"]
    kwargs: dict[str, Any] = dict(flag_values=flag_values, module_name=module_name)
    choices = field.metadata.get("choices")
    if choices:
        flags.DEFINE_enum(field.name, default, list(choices), help_text, **kwargs)
    elif kind is int:
        flags.DEFINE_integer(field.name, default, help_text, **kwargs)
    elif kind is float:
        flags.DEFINE_float(field.name, default, help_text, **kwargs)
    elif kind is str:
        flags.DEFINE_string(field.name, default, help_text, **kwargs)
    elif kind is bool:
        flags.DEFINE_boolean(field.name, default, help_text, **kwargs)
    elif typing.get_origin(kind) is tuple:
        flags.DEFINE_list(field.name, [str(v) for v in default], help_text, **kwargs)
    else:  # pragma: no cover - a new field type needs a flag type here
        raise TypeError(f"no flag type for {field.name}: {kind}")


def define_config_flags(flag_values: flags.FlagValues = flags.FLAGS,
                        module_name: str | None = None) -> None:
    """Define one flag per :class:`Config` field (idempotent per ``flag_values``: a flag that is
    already there is left alone; an ``id()`` would be reused by a later object)."""
    module_name = module_name or "tf_nst.config"
    for field in config_lib.fields():
        if field.name not in flag_values:
            _define(field, flag_values, module_name)


def config_from_flagfile(flagfile: str | pathlib.Path, **changes: Any) -> config_lib.Config:
    """The :class:`~tf_nst.config.Config` an absl flagfile of hyper-parameter flags describes (the
    defaults for flags it does not set), with ``changes`` applied; :class:`ConfigError` if a value
    is invalid or the file holds a flag that is not a hyper-parameter."""
    values = flags.FlagValues()
    define_config_flags(values)
    try:
        values(["preset", f"--flagfile={flagfile}"])
    except flags.Error as err:
        raise config_lib.ConfigError(f"{flagfile}: {' '.join(str(err).split())}") from None
    return config_from_flags(values).replace(**changes)


def define_preset_flag(flag_values: flags.FlagValues = flags.FLAGS,
                       module_name: str | None = None) -> None:
    """Define ``--preset``, which :func:`flag_parser` reads as the named preset's flagfile."""
    if "preset" not in flag_values:
        names = ", ".join(presets.available()) or "none found"
        flags.DEFINE_string(
            "preset", None, f"Named preset ({names}; tf-nst-export too): its flags are the "
            "defaults, and every other flag on the command line overrides them. Shipped with "
            "tf-nst (configs/ in a checkout); --flagfile=PATH reads any other flagfile.",
            flag_values=flag_values, module_name=module_name)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> config_lib.Config:
    """The :class:`Config` the parsed flags describe; :class:`ConfigError` if invalid."""
    values = {f.name: flag_values[f.name].value for f in config_lib.fields()}
    return config_lib.Config(**values)


def fail(program: str, message: object, status: int = 1) -> NoReturn:
    """End a command: ``PROGRAM: error: MESSAGE`` on one line of standard error, exit ``status``."""
    sys.stderr.write(f"{program}: error: {' '.join(str(message).split())}\n")
    sys.exit(status)


_HELP_FLAGS = frozenset({"help", "helpfull", "helpshort", "helpxml", "h", "?"})
_FULL_HELP = ("--helpfull: every flag's whole help, absl's own too; --flagfile=PATH reads flags from "
              "a file.")


def flag_parser(program: str, groups: Mapping[str, Sequence[str]] | None = None, usage: str = "",
                aliases: Mapping[str, aliases_lib.Alias] | None = None,
                ) -> Callable[[list[str]], list[str]]:
    """An ``absl.app`` flags parser: ``-h``/``--help`` print the short help (``usage``, then the
    command's flag ``groups`` and the hyper-parameters' groups); neural-style's flags are read
    through ``aliases`` (:func:`tf_nst.aliases.translate`); ``--preset`` is read
    (:func:`presets.expand`); a bad flag, alias or preset is one line, exit status 2, a mistyped
    flag with the closest real one."""
    groups = {**(groups or {}), **config_lib.groups()}

    def bad_flag(message: str) -> NoReturn:
        fail(program, message, 2)

    def parse(argv: list[str]) -> list[str]:
        if usage_lib.asks_for_help(argv):
            sys.stdout.write(usage_lib.short_help(usage or f"usage: {program} [flags]", groups,
                                                  flags.FLAGS, _help_foot(aliases)))
            sys.exit(0)
        translation = aliases_lib.Translation(list(argv), [], {})
        try:
            if aliases:
                translation = aliases_lib.translate(argv, aliases)
            argv, preset = presets.expand(translation.argv)
            rest = flags.FLAGS(argv)
        except SystemExit as exit_:  # absl exits with 1 after printing the help it was asked for
            asked = any(arg.lstrip("-").split("=")[0] in _HELP_FLAGS for arg in argv[1:])
            sys.exit(0 if asked and exit_.code == 1 else exit_.code)
        except config_lib.ConfigError as err:  # a bad preset or neural-style flag
            bad_flag(str(err))
        except flags.UnrecognizedFlagError as err:
            bad_flag(_unknown_flag(err.flagname, groups, aliases or {}))
        except flags.Error as err:
            bad_flag(f"{err} (see --helpfull)")
        if "preset" in flags.FLAGS and flags.FLAGS.preset != preset:
            bad_flag("--preset is read from the command line only; in a flagfile, use "
                     "--flagfile=PATH of the preset instead")
        os.environ.update(translation.environ)  # before TensorFlow loads (-gpu)
        for note in translation.notes:
            sys.stderr.write(f"{program}: note: {note}\n")
        return rest

    return parse


def _help_foot(aliases: Mapping[str, aliases_lib.Alias] | None) -> str:
    """The short help's last lines: where the rest is, and neural-style's flags if taken."""
    if not aliases:
        return _FULL_HELP
    names = " ".join(f"-{name}" for name in aliases)
    return "\n".join([_FULL_HELP, *textwrap.wrap(
        f"neural-style's flags (one dash; as neural-style means them): {names}", 100)])


def _unknown_flag(name: str, groups: Mapping[str, Sequence[str]],
                  aliases: Mapping[str, aliases_lib.Alias]) -> str:
    """``unknown flag --NAME; did you mean --FLAG?``, the closest of the command's own flags and
    neural-style's (``-NAME``), if one is close."""
    known = {flag: f"--{flag}" for names in groups.values() for flag in names}
    known.setdefault("preset", "--preset")
    for alias in aliases:
        known.setdefault(alias, f"-{alias}")
    best = usage_lib.closest(name, known)
    guess = f"; did you mean {known[best]}?" if best else ""
    return f"unknown flag --{name}{guess} (--help lists the flags)"
