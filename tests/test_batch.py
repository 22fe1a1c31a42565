"""Batch mode: planning (no network), batch results equal single runs, the command's batch mode."""

import os

import numpy as np
import pytest
from PIL import Image

from tf_nst import Config, ImageError, stylize
from tf_nst.batch import expand_contents, plan_batches, plan_outputs, stylize_batch
from tf_nst.driver import Status
from tests.conftest import load_small
from tests.in_process import tf_nst

PRECISIONS = ("float32", "mixed_bfloat16")
# Batched convolutions round differently from single ones. Measured on this machine after 5 steps
# at 40 px: Adam differs by at most 1e-6 per pixel (mean 7e-9). L-BFGS amplifies rounding (its line
# search and the [0, 1] clip make discrete decisions): at most 4.2e-4 (mean 1.8e-6), i.e. a tenth of
# one 8-bit level. In bfloat16 (8 significant bits) a sum in another order rounds some layer
# outputs to the neighbouring bfloat16 value, 2^-8 apart, which can flip the sign of a small
# gradient component; Adam's first steps move every pixel by about the learning rate (0.02)
# whatever its gradient's size, so such a pixel ends up to twice that apart. Measured after 5
# steps at 40 px: Adam at most 0.039 (mean 7.6e-4), L-BFGS at most 0.0063 (mean 4.8e-4); the
# bfloat16 cases run 2 steps at 32 px. Bounds: (max, mean) per precision and optimiser.
TOLERANCE = {"float32": {"adam": (1e-5, 1e-7), "lbfgs": (1e-3, 1e-5)},
             "mixed_bfloat16": {"adam": (0.05, 2e-3), "lbfgs": (0.02, 2e-3)}}


def touch(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"x")
    return [str(folder / n) for n in names]


# --- planning --------------------------------------------------------------------------------------
def test_expand_contents_globs_sorted_commas_in_order_without_duplicates(tmp_path):
    b, a, c, a10, a9 = touch(tmp_path, "b.jpg", "a.jpg", "c.png", "a10.jpg", "a9.jpg")
    assert expand_contents(str(tmp_path / "*.jpg")) == [a, a9, a10, b]  # numbers by value
    assert expand_contents(f"{c}, {tmp_path / '?.jpg'},{b}") == [c, a, b]
    with pytest.raises(ImageError, match="no file matches"):
        expand_contents(str(tmp_path / "*.gif"))


def test_outputs_named_after_inputs(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    contents = touch(tmp_path, "cat.jpg", "dog.png")
    assert plan_outputs(contents, f"{out}/") == [f"{out}/cat.png", f"{out}/dog.png"]
    assert plan_outputs(contents, str(out), "jpg") == [f"{out}/cat.jpg", f"{out}/dog.jpg"]
    assert plan_outputs(contents, f"{out}/{{stem}}_x.jpg") == [f"{out}/cat_x.jpg", f"{out}/dog_x.jpg"]
    assert plan_outputs(contents[:1], f"{out}/one.png") == [f"{out}/one.png"]


@pytest.mark.parametrize("case, message", [
    ("collision", "would both be written"),
    ("missing directory", "does not exist"),
    ("exists", "--overwrite"),
    ("overwrites input", "overwrite an input"),
    ("several into one file", "output directory"),
    ("format", "--output_format"),
])
def test_output_problems_found_before_the_run(tmp_path, case, message):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    contents = touch(tmp_path, "a/cat.jpg", "b/cat.png", "dog.png")
    out, fmt = f"{tmp_path}/", None
    if case == "collision":
        out = str(tmp_path / "a")  # a/cat.jpg and b/cat.png -> a/cat.png
    elif case == "missing directory":
        out = f"{tmp_path}/none/"
    elif case == "exists":
        contents, out = contents[:1], str(tmp_path / "a")
        (tmp_path / "a" / "cat.png").write_bytes(b"precious")
    elif case == "overwrites input":
        contents, out = contents[1:], str(tmp_path / "b")
    elif case == "several into one file":
        out = str(tmp_path / "out.png")
    else:
        fmt = "gif"
    with pytest.raises(ImageError, match=message) as err:
        plan_outputs(contents, out, fmt)
    assert "\n" not in str(err.value)


def test_batches_group_images_by_size_in_input_order():
    sizes = [(3, 4), (4, 3), (3, 4), (3, 4), (4, 3)]
    assert plan_batches(sizes) == [[0, 2, 3], [1, 4]]
    assert plan_batches(sizes, batch_size=2) == [[0, 2], [3], [1, 4]]


def test_status_counts_images_per_minute_and_eta():
    # 3 of 6 images done, 1 by an earlier run; half of a 2-image batch's steps in 30 s.
    status = Status(images_done=3, images_total=6, images_now=2, job=3, jobs=4, job_images=2,
                    step=5, num_steps=10, elapsed=30.0, terms={"total": np.array([1.0, 3.0])})
    assert status.per_minute == pytest.approx(4.0)
    assert status.eta == pytest.approx(30.0 * 2 / 3)  # 2 of 3 images' work left at 3 per 30 s
    assert status.losses() == {"total": 2.0}
    assert status.line() == ("images 3/6 | batch 3/4 (2 images) step 5/10 | 4.00 images/min "
                             "eta 20s")
    done = Status(3, 6, 2, 3, 4, 2, 10, 10, 30.0, video=True, finished=True)
    assert done.line() == "frames 3/6 | 4.00 frames/min eta 45s"
    assert Status(0, 1, 0, 1, 1, 1, 0, 10, 0.0).line().endswith("eta ?")


# --- results ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def contents(small_pair, image_files):
    content, style = small_pair
    # Two images of one size (one batch of 2) and one of another size (a batch of 1).
    return [content, np.ascontiguousarray(content[::-1, ::-1]),
            load_small(image_files / "waves.png", 64)], style


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_each_result_of_a_batch_equals_stylising_that_image_alone(contents, optimizer, precision,
                                                                  vgg_weights):
    images, style = contents
    # Noise blended into the start checks that each image gets the noise a single run gives it.
    size, steps = (40, 5) if precision == "float32" else (32, 2)  # bfloat16 may be emulated
    config = Config(image_size=size, num_steps=steps, optimizer=optimizer, noise_ratio=0.3,
                    precision=precision)
    seen = []
    results = stylize_batch(images, style, config, on_progress=seen.append)
    for image, result in zip(images, results):
        alone = stylize(image, style, config)
        assert result.shape == alone.shape
        difference = np.abs(result - alone)
        assert difference.max() < TOLERANCE[precision][optimizer][0]
        assert difference.mean() < TOLERANCE[precision][optimizer][1]
    assert seen[-1].images_done == 3 and seen[-1].jobs == 2 and seen[-1].finished
    assert [s.step for s in seen].count(steps) == 2 * 2  # each batch's last step, and its end
    assert np.abs(results[0] - results[1]).mean() > 1e-3  # really two images


def test_a_batch_with_blended_styles_equals_each_image_alone_with_that_blend(contents, vgg_weights):
    images, galaxies = contents
    styles = [galaxies, images[2]]  # the deep field and the waves, blended 0.7 / 0.3
    config = Config(image_size=40, num_steps=5, optimizer="adam", noise_ratio=0.3,
                    style_blend_weights=(0.7, 0.3), precision="float32")
    results = stylize_batch(images[:2], styles, config)
    for image, result in zip(images, results):
        alone = stylize(image, styles, config)
        difference = np.abs(result - alone)
        assert difference.max() < TOLERANCE["float32"]["adam"][0]
        assert difference.mean() < TOLERANCE["float32"]["adam"][1]
    # Really a blend: not the first style alone.
    one = stylize_batch(images[:1], galaxies, config.replace(style_blend_weights=()))[0]
    assert np.abs(one - results[0]).mean() > 1e-3


def test_command_writes_one_file_per_input(tmp_path, image_files, vgg_weights):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("cat", "waves"):
        image = Image.open(image_files / f"{name}.png")
        image.thumbnail((64, 64))
        image.save(folder / f"{name}.jpg")
    out = tmp_path / "out"
    out.mkdir()
    args = [f"--content={folder}/*.jpg", f"--style={image_files / 'galaxies.jpg'}",
            f"--output={out}/", "--image_size=32", "--num_steps=2", "--optimizer=adam"]
    result = tf_nst(*args)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["cat.png", "waves.png"]
    assert Image.open(out / "cat.png").size == (32, 24)
    assert "images 2/2" in result.stderr and "images/min" in result.stderr
    # Run again: the outputs exist, so nothing runs and nothing is touched.
    again = tf_nst(*args)
    lines = [l for l in again.stderr.splitlines() if l.startswith("tf-nst")]
    assert again.returncode != 0 and len(lines) == 1 and "--overwrite" in lines[0], again.stderr


@pytest.mark.parametrize("flags, message", [
    (["--image_size=20", "--style_scale=2"], "content image resized to 20x15"),
    (["--style_scale=0.4"], "style image resized to 13x")])
def test_command_refuses_images_too_small_for_the_network_before_running(tmp_path, image_files,
                                                                         flags, message):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("cat", "waves"):
        Image.open(image_files / f"{name}.png").resize((64, 48)).save(folder / f"{name}.jpg")
    out = tmp_path / "out"
    out.mkdir()
    result = tf_nst(f"--content={folder}/*.jpg", f"--style={image_files / 'galaxies.jpg'}",
                    f"--output={out}/", "--image_size=32", "--num_steps=1", *flags)
    lines = [l for l in result.stderr.splitlines() if l.startswith("tf-nst")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert os.listdir(out) == []
