"""Print the README's flag tables, generated from tf_nst.config.Config and the CLI's own flags.

    python tools/flags_table.py            # print the markdown
    python tools/flags_table.py --write    # replace the block between the markers in README.md

tests/test_readme.py checks that README.md holds exactly this output, so the README's flag tables
cannot drift from the code.
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tf_nst import config as config_lib  # noqa: E402

START, END = "<!-- flags:start -->", "<!-- flags:end -->"
TITLES = {"images": "Images", "network": "Network", "loss": "Loss",
          "optimization": "Optimisation", "schedule": "Coarse-to-fine schedule and tiling",
          "performance": "Performance"}


def _default(value) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) if value else "(empty)"
    return str(value)


def cli_run_flags() -> list[tuple[str, str, str]]:
    """(name, default, help) of the run options defined in tf_nst/cli.py (not hyper-parameters)."""
    from absl import flags
    import tf_nst.cli  # noqa: F401  (defines the flags)
    out = []
    for flag in flags.FLAGS.get_key_flags_for_module(sys.modules["tf_nst.cli"]):
        out.append((flag.name, _default(flag.default), flag.help))
    return out


def markdown() -> str:
    lines = [START, "", "#### Run options (`tf-nst` only)", "", "| flag | default | meaning |",
             "| --- | --- | --- |"]
    for name, default, help_text in cli_run_flags():
        lines.append(f"| `--{name}` | `{default}` | {help_text} |")
    by_name = {f.name: f for f in config_lib.fields()}
    for group, names in config_lib.groups().items():
        lines += ["", f"#### {TITLES.get(group, group.title())}", "",
                  "| flag | default | meaning |", "| --- | --- | --- |"]
        for name in names:
            field = by_name[name]
            help_text = field.metadata["help"]
            choices = field.metadata.get("choices")
            if choices:
                help_text += f" One of: {', '.join(choices)}."
            lines.append(f"| `--{name}` | `{_default(field.default)}` | {help_text} |")
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    text = markdown()
    if "--write" in sys.argv:
        readme = ROOT / "README.md"
        current = readme.read_text()
        start, end = current.index(START), current.index(END) + len(END)
        readme.write_text(current[:start] + text + current[end:])
    else:
        print(text)


if __name__ == "__main__":
    main()
