"""Generate the flag reference in docs/flags.md from the code: every flag of ``tf-nst`` (its own
run flags and the hyper-parameters of tf_nst.config.Config) and ``tf-nst-export``'s own flags,
grouped as ``--help`` groups them, with their defaults and whole help texts.

    python tools/flags_table.py            # print the generated block
    python tools/flags_table.py --write    # replace the block between the markers in docs/flags.md

tests/test_readme.py checks that docs/flags.md holds exactly this output, so the reference cannot
drift from the code. Each command's flags are read in a fresh process (both commands define
--output and --overwrite in absl's one global flag registry).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "flags.md"
START, END = "<!-- flags:start -->", "<!-- flags:end -->"
TITLES = {
    "run": "Run: inputs and output", "progress": "Progress, checkpoints and memory",
    "batch": "Many images, video and accelerators", "images": "Images", "network": "Network",
    "loss": "Loss", "creative": "Creative", "optimization": "Optimisation",
    "schedule": "Coarse-to-fine schedule and tiling", "performance": "Performance",
    "export": "Export",
}


def command_flags(module: str, with_config: bool) -> list[dict]:
    """``[{group, name, default, help, choices}]`` of a command module's ``HELP_GROUPS`` (and, if
    ``with_config``, the hyper-parameters' groups), read in a fresh process."""
    out = subprocess.run([sys.executable, str(pathlib.Path(__file__).resolve()), "--dump", module,
                          "1" if with_config else "0"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def _dump(module: str, with_config: bool) -> None:
    sys.path.insert(0, str(ROOT))
    import importlib

    from absl import flags

    from tf_nst import config as config_lib

    command = importlib.import_module(module)  # defines the flags
    groups = dict(command.HELP_GROUPS)
    if with_config:
        groups.update(config_lib.groups())
    rows = []
    for group, names in groups.items():
        for name in names:
            flag = flags.FLAGS[name]
            choices = list(getattr(flag.parser, "enum_values", None) or [])
            rows.append(dict(group=group, name=name, default=flag.default, help=flag.help,
                             choices=choices))
    json.dump(rows, sys.stdout)


def _default(value) -> str:
    if value is None:
        return "(none)"
    if value == "" or value == []:
        return "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _help(row: dict) -> str:
    text = " ".join(row["help"].split())
    if row["choices"]:
        prefix = f"<{'|'.join(row['choices'])}>: "
        if text.startswith(prefix):
            text = text[len(prefix):]
        text += f" One of: {', '.join(row['choices'])}."
    return text.replace("|", "\\|").replace("<", "&lt;")


def _tables(rows: list[dict]) -> list[str]:
    lines: list[str] = []
    group = None
    for row in rows:
        if row["group"] != group:
            group = row["group"]
            lines += ["", f"### {TITLES.get(group, group.title())}", "",
                      "| flag | default | meaning |", "| --- | --- | --- |"]
        lines.append(f"| `--{row['name']}` | `{_default(row['default'])}` | {_help(row)} |")
    return lines


def markdown() -> str:
    lines = [START, "", "## `tf-nst`"]
    lines += _tables(command_flags("tf_nst.cli", with_config=True))
    lines += ["", "## `tf-nst-export`", "",
              "Its own flags; every hyper-parameter flag above (Images to Performance) applies too, "
              "as the defaults baked into the exported model."]
    lines += _tables(command_flags("tf_nst.export_cli", with_config=False))
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    if sys.argv[1:2] == ["--dump"]:
        _dump(sys.argv[2], sys.argv[3] == "1")
        return
    text = markdown()
    if "--write" in sys.argv:
        current = TARGET.read_text()
        start, end = current.index(START), current.index(END) + len(END)
        TARGET.write_text(current[:start] + text + current[end:])
    else:
        print(text)


if __name__ == "__main__":
    main()
