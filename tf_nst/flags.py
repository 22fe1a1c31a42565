"""absl flags generated from :class:`tf_nst.config.Config`: every field becomes a flag of the
same name, default and help text, so flags, presets and code agree.
"""

from __future__ import annotations

import pathlib
import typing
from typing import Any

from absl import flags

from tf_nst import config as config_lib


_DEFINE_BY_TYPE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string,
                   bool: flags.DEFINE_boolean}


def define_config_flags(flag_values: flags.FlagValues = flags.FLAGS,
                        module_name: str | None = None) -> None:
    """Define one flag per :class:`Config` field; a flag already in ``flag_values`` is kept."""
    kinds = typing.get_type_hints(config_lib.Config)
    kwargs: dict[str, Any] = dict(flag_values=flag_values,
                                  module_name=module_name or "tf_nst.config")
    for field in config_lib.fields():
        if field.name in flag_values:
            continue
        name, default, help_text = field.name, field.default, field.metadata["help"]
        if field.metadata.get("choices"):
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text, **kwargs)
        elif typing.get_origin(kinds[name]) is tuple:
            flags.DEFINE_list(name, [str(v) for v in default], help_text, **kwargs)
        else:  # a new field type needs a flag type in _DEFINE_BY_TYPE
            _DEFINE_BY_TYPE[kinds[name]](name, default, help_text, **kwargs)


def config_from_flagfile(flagfile: str | pathlib.Path, **changes: Any) -> config_lib.Config:
    """The :class:`~tf_nst.config.Config` of an absl flagfile of hyper-parameter flags, with
    ``changes`` applied; :class:`ConfigError` for an invalid value or any other flag."""
    values = flags.FlagValues()
    define_config_flags(values)
    try:
        values(["preset", f"--flagfile={flagfile}"])
    except flags.Error as err:
        raise config_lib.ConfigError(f"{flagfile}: {' '.join(str(err).split())}") from None
    return config_from_flags(values).replace(**changes)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> config_lib.Config:
    """The :class:`Config` the parsed flags describe; :class:`ConfigError` if invalid."""
    values = {f.name: flag_values[f.name].value for f in config_lib.fields()}
    return config_lib.Config(**values)
