"""The README stays true: flag tables generated from the code, commands that refer to real files."""

import re
import subprocess
import sys

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_flag_tables_match_the_code():
    generated = subprocess.run([sys.executable, str(ROOT / "tools" / "flags_table.py")],
                               capture_output=True, text=True, check=True).stdout.strip()
    start = README.index("<!-- flags:start -->")
    end = README.index("<!-- flags:end -->") + len("<!-- flags:end -->")
    assert README[start:end] == generated, "run: python tools/flags_table.py --write"


def test_files_named_in_commands_exist():
    for path in set(re.findall(r"(?:examples|configs)/[\w.-]+\.(?:png|jpg|cfg)", README)):
        assert (ROOT / path).is_file(), path
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / image).is_file(), image


def test_presets_named_in_commands_exist():
    from tf_nst import presets
    script = (ROOT / "docs" / "make_figures.sh").read_text()
    named = set(re.findall(r"--preset[= ]([\w.-]+)", README + script)) - {"NAME"}
    assert named and named <= set(presets.available()), named - set(presets.available())


def test_every_preset_is_described():
    for preset in (ROOT / "configs").glob("*.cfg"):
        assert f"| `{preset.stem}` |" in README, preset.stem  # the presets table


def test_the_test_command_is_what_ci_runs():
    assert "python -m pytest -q" in README
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()
