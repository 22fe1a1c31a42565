"""What a command says about its own flags: the short ``--help`` (one line per flag, by group,
with its default) and the closest flag to a mistyped one.

absl's ``--helpfull`` prints every flag's whole help, absl's own flags too (hundreds of lines);
these answer the two questions a user has at the door: what can I set, and what did I mean.
"""

from __future__ import annotations

import shutil
from typing import Iterable, Mapping, Sequence

from absl import flags

HELP_ARGS = frozenset({"h", "help", "?", "helpshort"})


def asks_for_help(argv: Sequence[str]) -> bool:
    """Whether ``argv`` holds ``-h``, ``--help``, ``-?`` or ``--helpshort`` before any ``--``."""
    for arg in argv[1:]:
        if arg == "--":
            return False
        if arg.startswith("-") and arg.lstrip("-") in HELP_ARGS:
            return True
    return False


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


def flag_line(flag: flags.Flag, width: int, column: int = 30) -> str:
    """``  --name=DEFAULT  first sentence of the help``, cut to ``width`` characters."""
    name = f"  --{flag.name}{_default(flag)}"
    line = f"{name:<{column}}  {first_sentence(' '.join(flag.help.split()))}"
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


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours that turn ``a`` into ``b``
    (optimal string alignment: ``stlye`` is 1 from ``style``)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1,
                         rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``name`` by :func:`edit_distance` (the first in ``candidates`` on
    a tie), or None when even that one differs in more than a third of ``name`` (at least 2)."""
    best, best_distance = None, max(2, len(name) // 3) + 1
    for candidate in candidates:
        distance = edit_distance(name, candidate)
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best
