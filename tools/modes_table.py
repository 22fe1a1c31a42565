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


def main() -> None:
    table = modes.markdown_table()
    if "--write" not in sys.argv:
        print(table, end="")
        return
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + table + text[end:])


if __name__ == "__main__":
    main()
