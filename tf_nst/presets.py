"""Named presets: the absl flagfiles of ``configs/`` (``--preset=gatys2016``, :func:`load`).

They are read from a checkout's ``configs/`` or, installed from a wheel, from the package's data
files (``share/tf-nst/configs`` under the environment's prefix). A preset gives defaults: every
flag on the command line overrides it, wherever it stands.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
from typing import Any

from absl import flags

from tf_nst import config as config_lib
from tf_nst.flags import config_from_flagfile

SUFFIX = ".cfg"
_CHECKOUT = pathlib.Path(__file__).resolve().parents[1]  # setup.cfg and configs/ in a checkout


class PresetError(config_lib.ConfigError):
    """An unknown preset (the message names the known ones), or --preset used wrongly; one line."""


def available() -> dict[str, pathlib.Path]:
    """Every preset's name (the file name without ``.cfg``) and path: those of the checkout
    ``tf_nst`` was imported from, or else those installed with the package (pip's RECORD)."""
    if (_CHECKOUT / "setup.cfg").is_file() and (_CHECKOUT / "configs").is_dir():
        return {p.stem: p for p in sorted((_CHECKOUT / "configs").glob("*" + SUFFIX))}
    try:
        distribution = importlib.metadata.distribution("tf-nst")
    except importlib.metadata.PackageNotFoundError:
        return {}
    installed = {file.stem: pathlib.Path(distribution.locate_file(file)).resolve()
                 for file in distribution.files or ()
                 if file.suffix == SUFFIX and tuple(file.parts[-3:-1]) == ("tf-nst", "configs")}
    return {name: path for name, path in sorted(installed.items()) if path.is_file()}


def path(name: str) -> pathlib.Path:
    """The flagfile of preset ``name`` (``gatys2016`` or ``gatys2016.cfg``); :class:`PresetError`
    if there is none."""
    presets, stem = available(), name.removesuffix(SUFFIX)
    if stem not in presets:
        known = ", ".join(presets) or "none found: reinstall tf-nst"
        raise PresetError(f"--preset={name}: no such preset (presets: {known})")
    return presets[stem]


def load(name: str, **changes: Any) -> config_lib.Config:
    """The :class:`~tf_nst.config.Config` of preset ``name``, with ``changes`` applied:
    ``presets.load("gatys2016_fast", image_size=256)``."""
    return config_from_flagfile(path(name), **changes)


def define_preset_flag(flag_values: flags.FlagValues = flags.FLAGS,
                       module_name: str | None = None) -> None:
    """Define ``--preset``, read by :func:`tf_nst.usage.flag_parser` as the preset's flagfile."""
    if "preset" not in flag_values:
        names = ", ".join(available()) or "none found"
        flags.DEFINE_string(
            "preset", None, f"Named preset ({names}; tf-nst-export too): its flags are the "
            "defaults, and every other flag on the command line overrides them. Shipped with "
            "tf-nst (configs/ in a checkout); --flagfile=PATH reads any other flagfile.",
            flag_values=flag_values, module_name=module_name)


def expand(argv: list[str]) -> tuple[list[str], str | None]:
    """``(argv, NAME)``: ``--preset=NAME`` (or ``--preset NAME``) also read as the preset's
    ``--flagfile``, placed first so that every other argument overrides it (``--preset`` stays,
    so the flag keeps its value); NAME is None without one. :class:`PresetError` for an unknown
    name or two different presets."""
    names, rest = [], list(argv[:1])
    args = iter(argv[1:])
    for arg in args:
        option, equals, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and option == "preset":
            if not equals:
                value = next(args, None)
                if value is None:
                    raise PresetError("--preset needs a name (--preset=NAME)")
            names.append(value.removesuffix(SUFFIX))
            rest.append(f"--preset={names[-1]}")
        else:
            rest.append(arg)
            if arg == "--":  # absl stops reading flags here
                rest.extend(args)
    if not names:
        return list(argv), None
    if len(set(names)) > 1:
        raise PresetError(f"one --preset at a time (got {', '.join(names)}); combine presets with "
                          "--flagfile=PATH")
    return rest[:1] + [f"--flagfile={path(names[0])}"] + rest[1:], names[0]
