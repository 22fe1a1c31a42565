"""Named presets (``--preset``): found in a checkout and in an installed wheel, read as defaults."""

import configparser
import glob
import json
import shutil
import subprocess
import sys

import pytest
from absl import flags

from tests.conftest import ROOT
from tf_nst import presets
from tf_nst.config import Config, ConfigError
from tf_nst.flags import config_from_flagfile, config_from_flags, define_config_flags
from tf_nst.presets import define_preset_flag
from tf_nst.usage import flag_parser

NAMES = sorted(p.stem for p in (ROOT / "configs").glob("*.cfg"))


def test_every_flagfile_in_configs_is_a_preset():
    assert NAMES and list(presets.available()) == NAMES
    assert presets.path("gatys2016") == presets.path("gatys2016.cfg") == ROOT / "configs" / "gatys2016.cfg"


def test_load_reads_the_flagfile_and_applies_changes():
    paper = presets.load("gatys2016")
    assert paper.lbfgs_history == 10 and paper.precision == "float32" and paper.num_steps == 500
    assert paper.content_weight / paper.style_weight == pytest.approx(
        Config().content_weight / Config().style_weight)
    assert paper.formulation == "authors" and presets.load("gatys2016_printed").formulation == "printed"
    small = presets.load("gatys2016", image_size=64)
    assert small.image_size == 64 and small.replace(image_size=paper.image_size) == paper
    assert presets.load("preview") != Config()


def test_unknown_preset_is_one_line_naming_the_known_ones():
    with pytest.raises(presets.PresetError) as err:
        presets.path("gatys2015")
    assert str(err.value) == ("--preset=gatys2015: no such preset (presets: "
                              + ", ".join(NAMES) + ")")
    assert isinstance(err.value, ConfigError)


def test_a_flagfile_with_a_bad_value_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("--image_size=big\n")
    with pytest.raises(ConfigError, match="bad.cfg: .*image_size"):
        config_from_flagfile(bad)
    bad.write_text("--content=photo.jpg\n")  # not a hyper-parameter
    with pytest.raises(ConfigError, match="content"):
        config_from_flagfile(bad)


def test_expand_puts_the_preset_first_so_every_flag_overrides_it():
    flagfile = f"--flagfile={presets.path('preview')}"
    argv, name = presets.expand(["prog", "--num_steps=3", "--preset", "preview", "--image_size=40"])
    assert name == "preview"
    assert argv == ["prog", flagfile, "--num_steps=3", "--preset=preview", "--image_size=40"]
    assert presets.expand(["prog", "-preset=preview"])[0] == ["prog", flagfile, "--preset=preview"]
    assert presets.expand(["prog", "--num_steps=3"]) == (["prog", "--num_steps=3"], None)
    # After "--" nothing is a flag.
    assert presets.expand(["prog", "--", "--preset=nope"]) == (["prog", "--", "--preset=nope"], None)
    assert presets.expand(["prog", "--preset=preview", "--preset=preview.cfg"])[1] == "preview"
    with pytest.raises(presets.PresetError, match="one --preset at a time"):
        presets.expand(["prog", "--preset=preview", "--preset=fast"])
    with pytest.raises(presets.PresetError, match="needs a name"):
        presets.expand(["prog", "--preset"])


def _parsed(argv, monkeypatch):
    values = flags.FlagValues()
    define_config_flags(values)
    define_preset_flag(values)
    monkeypatch.setattr(flags, "FLAGS", values)
    flag_parser("prog")(argv)
    return values


def test_the_parser_reads_the_preset_as_defaults(monkeypatch):
    values = _parsed(["prog", "--num_steps=3", "--preset=gatys2016_fast"], monkeypatch)
    config = config_from_flags(values)
    assert config == presets.load("gatys2016_fast", num_steps=3) and values.preset == "gatys2016_fast"


@pytest.mark.parametrize("argv, message", [
    (["prog", "--preset=nope"], "prog: error: --preset=nope: no such preset"),
    (["prog", "--optimizer=sgd", "--preset=preview"], "prog: error: flag --optimizer=sgd"),
])
def test_the_parser_reports_a_bad_preset_or_flag_in_one_line(argv, message, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parsed(argv, monkeypatch)
    lines = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and len(lines) == 1 and lines[0].startswith(message)


def test_a_preset_named_inside_a_flagfile_is_refused(tmp_path, monkeypatch, capsys):
    nested = tmp_path / "nested.cfg"
    nested.write_text("--preset=preview\n")
    with pytest.raises(SystemExit) as exit_:
        _parsed(["prog", f"--flagfile={nested}"], monkeypatch)
    assert exit_.value.code == 2
    assert "--preset is read from the command line only" in capsys.readouterr().err


def test_setup_cfg_ships_every_preset():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    pattern = setup["options.data_files"]["share/tf-nst/configs"].strip()
    shipped = sorted(p.rsplit("/", 1)[-1][:-4] for p in glob.glob(pattern, root_dir=ROOT))
    assert shipped == NAMES


def test_an_installed_wheel_finds_its_presets(tmp_path):
    """Built and installed (no dependencies) under a prefix: there is no checkout around it."""
    source = tmp_path / "source"  # a copy: building in the checkout would write into it
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("configs", "examples", "tf_nst"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    prefix = tmp_path / "prefix"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--no-build-isolation", "--ignore-installed", "--prefix", str(prefix),
                            str(source)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    site = next(prefix.glob("lib/python*/site-packages"))
    probe = ("import json, tf_nst.presets as p; "
             "print(json.dumps({k: str(v) for k, v in p.available().items()}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert sorted(found) == NAMES
    for name, path in found.items():
        assert path == str(prefix / "share" / "tf-nst" / "configs" / f"{name}.cfg")
