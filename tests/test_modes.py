"""Tests generated from the mode x feature table (tf_nst/modes.py): every feature a mode accepts
runs in it, all of them at once, in float32 and mixed bfloat16; every refusal is one line with
the table's reason; README shows the table."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from tf_nst import modes
from tf_nst.config import Config, ConfigError
from tf_nst.export import Limits, check_exportable, lite_config

from .conftest import ROOT, load_tool, precision_flags
from .in_process import tf_nst as run

COMMAND_MODES = ("single", "batch", "video")
EXPORT_MODES = ("saved_model", "tflite")
PRECISIONS = ("float32", "mixed_bfloat16")


def feature_flags(folder) -> dict[str, list[str]]:
    """The command's flags that turn each feature on (files made in ``folder``)."""
    return {
        "scales": ["--scales=2"],
        "tile_size": ["--tile_size=64", "--tile_overlap=16"],
        "original_colors": ["--original_colors"],
        "color_transfer": ["--color_transfer=histogram"],
        "blend": ["--style_blend_weights=3,1"],
        "style_masks": [f"--style_masks={folder / 'left.png'},{folder / 'right.png'}"],
        "content_mask": [f"--content_mask={folder / 'centre.png'}"],
        "init_file": [f"--init={folder / 'init.png'}"],
        "checkpoint_dir": [f"--checkpoint_dir={folder / 'ck'}", "--checkpoint_every=1"],
        "logdir": [f"--logdir={folder / 'logs'}"],
        "save_every": ["--save_every=2"],
        "stop_tolerance": ["--stop_tolerance=1e-9"],
        "mixed_bfloat16": [],  # the precision is a parameter of every test
        "strategy": ["--strategy=mirrored"],
        "batch_size": ["--batch_size=1"],
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory, image_files):
    """Two contents (cat, waves), two styles, masks and an init image at 96 px or less."""
    folder = tmp_path_factory.mktemp("modes")
    for name, source in (("a.png", "cat.png"), ("b.png", "waves.png"), ("s.jpg", "galaxies.jpg")):
        image = Image.open(image_files / source).convert("RGB")
        image.thumbnail((96, 96))
        image.save(folder / name)
    half = np.zeros((72, 96), np.uint8)
    half[:, :48] = 255
    Image.fromarray(half).save(folder / "left.png")
    Image.fromarray(255 - half).save(folder / "right.png")
    centre = np.zeros((72, 96), np.uint8)
    centre[24:48, 32:64] = 255
    Image.fromarray(centre).save(folder / "centre.png")
    Image.fromarray(np.full((72, 96, 3), 128, np.uint8)).save(folder / "init.png")
    return folder


def test_readme_shows_the_table():
    readme = (ROOT / "README.md").read_text()
    table = load_tool("modes_table")
    block = readme[readme.index(table.START) + len(table.START):readme.index(table.END)]
    assert block == "\n" + table.markdown_table(), "run: python tools/modes_table.py --write"


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("mode", COMMAND_MODES)
def test_every_feature_a_mode_accepts_runs_at_once(mode, precision, folder, tmp_path, vgg_weights):
    flags = [flag for feature, given in feature_flags(tmp_path).items()
             if modes.refusal(mode, feature) is None for flag in given]
    for name in ("left.png", "right.png", "centre.png", "init.png"):
        os.link(folder / name, tmp_path / name)
    contents = f"{folder / 'a.png'}" if mode == "single" else f"{folder / 'a.png'},{folder / 'b.png'}"
    out = tmp_path / ("out.png" if mode == "single" else "out")
    video = ["--video"] if mode == "video" else []
    result = run(f"--content={contents}", f"--style={folder / 's.jpg'},{folder / 'b.png'}",
                 f"--output={out}" + ("" if mode == "single" else "/"), "--image_size=96",
                 "--num_steps=4", "--optimizer=adam", *precision_flags(precision), *video, *flags)
    assert result.returncode == 0, result.stderr
    written = [out] if mode == "single" else [out / "a.png", out / "b.png"]
    for path in written:
        assert max(Image.open(path).size) == 96
        assert os.path.exists(str(path).replace(".png", "_00004.png"))  # the snapshot
    assert "in tiles of 64 px at 96 px" in result.stderr and "coarse to fine" in result.stderr
    assert f"adam, {precision}" in result.stderr  # computed in it, by default or by the flag
    assert os.listdir(tmp_path / "logs")


@pytest.mark.parametrize("mode, feature", [cell for cell in modes.REFUSED
                                           if cell[0] in COMMAND_MODES])
def test_the_command_refuses_in_one_line_with_the_tables_reason(mode, feature, folder, tmp_path):
    flags = feature_flags(folder)[feature] if feature != "batch_size" else ["--batch_size=2"]
    out = tmp_path / "out"
    result = run(f"--content={folder / 'a.png'},{folder / 'b.png'}", f"--style={folder / 's.jpg'}",
                 f"--output={out}/", "--video", *flags)
    lines = [line for line in result.stderr.splitlines() if line.startswith("tf-nst")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert modes.refusal(mode, feature) in lines[0]
    assert not os.path.exists(out)


EXPORT_CONFIGS = {
    "scales": dict(scales=2),
    "tile_size": dict(tile_size=64, tile_overlap=16),
    "original_colors": dict(original_colors=True),
    "color_transfer": dict(color_transfer="histogram"),
    "blend": dict(style_blend_weights=(3.0, 1.0)),
    "init_file": dict(init=str(ROOT / "examples" / "content.png")),
    "stop_tolerance": dict(stop_tolerance=1e-3),
    "mixed_bfloat16": dict(precision="mixed_bfloat16"),
}


@pytest.mark.parametrize("mode", EXPORT_MODES)
@pytest.mark.parametrize("feature", sorted(EXPORT_CONFIGS))
def test_an_export_takes_or_refuses_each_config_feature(mode, feature):
    config = Config(image_size=128, **EXPORT_CONFIGS[feature])
    reason = modes.refusal(mode, feature)

    def check():
        return lite_config(config) if mode == "tflite" else check_exportable(config, Limits())
    if reason is None:
        check()
    else:
        with pytest.raises(ConfigError) as err:
            check()
        assert reason in str(err.value) and "\n" not in str(err.value)


def test_an_export_has_no_flags_for_what_it_refuses():
    names = {flag["name"] for flag in load_tool("flags_table").command_flags(
        "tf_nst.export_cli", True)}
    for mode in EXPORT_MODES:
        for feature in set(modes.FEATURES) - set(EXPORT_CONFIGS):
            assert (feature in names) == (modes.refusal(mode, feature) is None), feature
