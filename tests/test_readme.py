"""The README and docs/ stay true: the flag reference generated from the code, commands that use
real flags and files, links that lead somewhere, a first screen with both set-up commands, and
nothing about the machines or the process the project was built with."""

import functools
import re
import subprocess
import sys

from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README] + DOCS
SET_UP_COMMANDS = ('pip install .', 'tf-nst --content=examples/content.png --style=examples/style.jpg',
                   'pip install -e ".[test,tflite]"', 'python -m pytest -q')


def text(path) -> str:
    return path.read_text()


def load_flags_table():
    from tests.conftest import load_tool
    return load_tool("flags_table")


def test_flag_reference_matches_the_code():
    generated = subprocess.run([sys.executable, str(ROOT / "tools" / "flags_table.py")],
                               capture_output=True, text=True, check=True).stdout.strip()
    reference = text(ROOT / "docs" / "flags.md")
    start = reference.index("<!-- flags:start -->")
    end = reference.index("<!-- flags:end -->") + len("<!-- flags:end -->")
    assert reference[start:end] == generated, "run: python tools/flags_table.py --write"


def test_readme_is_a_short_page_with_both_set_up_commands_on_its_first_screen():
    readme = text(README)
    assert len(readme) <= 20_000, len(readme)
    first_screen = "\n".join(readme.splitlines()[:60])
    for command in SET_UP_COMMANDS:
        assert command in first_screen, command


def test_files_named_in_commands_exist():
    for page in PAGES:
        for path in set(re.findall(r"(?:examples|configs)/[a-z0-9_][\w.-]*\.(?:png|jpg|cfg)", text(page))):
            assert (ROOT / path).is_file(), f"{page.name}: {path}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    heading = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def _anchors(page) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text(page), flags=re.M)}


def test_links_and_images_lead_somewhere():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", text(page)):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked), f"{page.name}: {target}"


def test_presets_named_exist():
    from tf_nst import presets
    script = text(ROOT / "docs" / "make_figures.sh")
    named = set(re.findall(r"--preset[= ]([\w.-]+)", "".join(map(text, PAGES)) + script))
    named -= {"NAME"}
    assert named and named <= set(presets.available()), named - set(presets.available())


def test_every_preset_is_in_the_readme_table_with_its_formulation():
    readme = text(README)
    for preset in (ROOT / "configs").glob("*.cfg"):
        found = re.findall(r"--formulation=(\w+)", text(preset))
        formulation = found[-1] if found else "authors"  # the default
        assert f"| `{preset.stem}` | `{formulation}` |" in readme, preset.stem


def test_the_test_command_is_what_ci_runs():
    assert "python -m pytest -q" in text(README)
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()


# Commands shown in the README and docs use flags that exist -----------------------------------

def _commands():
    """``(page, command line)`` of every command in a code block or inline code span, with
    backslash continuations joined."""
    for page in PAGES:
        body = text(page)
        blocks = re.findall(r"^```[a-z]*\n(.*?)^```", body, flags=re.M | re.S)
        spans = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", body, flags=re.M | re.S))
        for chunk in blocks + spans:
            for line in chunk.replace("\\\n", " ").splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("!"):
                    line = line[1:]
                if line:
                    yield page, line


def _program(line: str):
    """``(key, arguments)`` for a tf-nst, tf-nst-export, tf_nst.visualize or tools/ command."""
    match = re.search(r"(?:^|\s)(tf-nst-export|tf-nst|python -m tf_nst\.visualize [a-z][\w-]*|"
                      r"python -m tf_nst|python tools/\w+\.py)(?=\s|$)(.*)", line)
    if not match:
        return None
    key = match.group(1)
    return ("tf-nst" if key == "python -m tf_nst" else key), match.group(2)


@functools.lru_cache(maxsize=None)
def _known(key: str) -> frozenset:
    """The flag names a command accepts (without dashes)."""
    if key in ("tf-nst", "tf-nst-export"):
        table = load_flags_table()
        module = "tf_nst.cli" if key == "tf-nst" else "tf_nst.export_cli"
        names = {row["name"] for row in table.command_flags(module, with_config=True)}
        booleans = {row["name"] for row in table.command_flags(module, with_config=True)
                    if isinstance(row["default"], bool)}
        return frozenset(names | {f"no{b}" for b in booleans}
                         | {"help", "helpfull", "flagfile", "h"})
    command = key.split()  # python tools/x.py | python -m tf_nst.visualize SUB
    result = subprocess.run([sys.executable] + command[1:] + ["--help"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, f"{key} --help: {result.stderr[-500:]}"
    return frozenset(re.findall(r"--(\w+)", result.stdout))


def test_commands_use_flags_that_exist():
    from tf_nst import aliases
    checked = 0
    for page, line in _commands():
        found = _program(line)
        if not found:
            continue
        key, arguments = found
        known = _known(key)
        for dashes, name in re.findall(r"(?:^|\s)(--?)([a-z]\w*)", arguments):
            if dashes == "-" and key == "tf-nst":
                assert name in aliases.ALIASES or name in ("h",), f"{page.name}: -{name} in {line}"
            elif dashes == "--":
                assert name in known, f"{page.name}: --{name} in {line}"
            checked += 1
    assert checked > 50


# Nothing about how the project was made -------------------------------------------------------

FORBIDDEN = [r"development (?:VM|machine)", r"(?<!TPU )\bVMs?\b", r"\bthe brief\b", r"brief's",
             r"\b(?:this|the|a later|an earlier) session\b", r"\bscratch\b", r"PYTHONPATH",
             r"\b20\d\d-\d\d-\d\d\b", r"the last stop"]


def test_pages_speak_of_the_project_not_of_how_it_was_made():
    comments = "\n".join(line for line in text(ROOT / "docs" / "make_figures.sh").splitlines()
                         if line.lstrip().startswith("#"))
    for name, body in [(p.name, text(p)) for p in PAGES] + [("make_figures.sh", comments)]:
        for pattern in FORBIDDEN:
            match = re.search(pattern, body, flags=re.I)
            assert match is None, f"{name}: {match.group(0)!r}"
