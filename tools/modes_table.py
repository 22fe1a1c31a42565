"""Write the mode x feature table of tf_nst/modes.py into README.md, between its markers.

    python tools/modes_table.py            # print the table
    python tools/modes_table.py --write    # replace the block in README.md

tests/test_modes.py checks that README.md holds exactly this table.
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
START, END = "<!-- modes:start -->", "<!-- modes:end -->"

from tf_nst import modes  # noqa: E402


def markdown_table() -> str:
    """README's table: a row per feature, a column per mode; refusals numbered below it."""
    numbers: dict[str, int] = {}  # reason -> its note's number, in order of first use
    rows = ["| feature | " + " | ".join(modes.MODES) + " |", "|---" * (len(modes.MODES) + 1) + "|"]
    for feature in modes.FEATURES:
        reasons = [modes.refusal(mode, feature) for mode in modes.MODES]
        cells = ["✓" if reason is None else f"✗{numbers.setdefault(reason, len(numbers) + 1)}"
                 for reason in reasons]
        rows.append(f"| `{feature}` | " + " | ".join(cells) + " |")
    notes = [f"{n}. {reason}." for reason, n in numbers.items()]
    return "\n".join(rows) + "\n\n" + "\n".join(notes) + "\n"


def main() -> None:
    table = markdown_table()
    if "--write" not in sys.argv:
        print(table, end="")
        return
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + table + text[end:])


if __name__ == "__main__":
    main()
