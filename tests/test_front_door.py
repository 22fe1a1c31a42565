"""The commands' front door: an --output directory made when missing."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT
from tf_nst.batch_cli import make_output_directory, remove_directories


def command(module, *args, env=None):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


# --- an --output directory made when missing (tf_nst.batch_cli) ----------------------------------
def test_output_directory_is_made_and_removed_again(tmp_path):
    made = make_output_directory(f"{tmp_path}/a/b/")
    assert made == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert (tmp_path / "a" / "b").is_dir()
    assert make_output_directory(f"{tmp_path}/a/b/") == []  # exists
    assert make_output_directory(f"{tmp_path}/out.png") == []  # a file name, not a directory
    remove_directories(made)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        make_output_directory(f"{tmp_path}/file/")


def write_images(folder, *names, side=32):
    for seed, name in enumerate(names):
        pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)


def test_several_images_into_a_missing_directory(tmp_path, vgg_weights):
    # 16 px: the smallest square conv5_1 takes.
    write_images(tmp_path, "a.png", "b.png", "style.png", side=16)
    result = command("tf_nst", f"--content={tmp_path}/[ab].png", f"--style={tmp_path}/style.png",
                     f"--output={tmp_path}/new/dir/", "--image_size=16", "--num_steps=1")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["a.png", "b.png"]
    # A run refused by its checks leaves no directory behind.
    result = command("tf_nst", f"--content={tmp_path}/[ab].png", f"--style={tmp_path}/none.png",
                     f"--output={tmp_path}/other/", "--image_size=16", "--num_steps=1")
    assert result.returncode == 1 and "none.png" in result.stderr
    assert not (tmp_path / "other").exists()
