"""Video frames: each frame starts from the previous result, which reduces flicker."""

import os

import numpy as np
import pytest
from PIL import Image

from tf_nst import Config, stylize
from tf_nst.batch import stylize_batch, stylize_frames
from tests.conftest import load_small
from tests.in_process import tf_nst as run_command
from tests.test_batch import PRECISIONS, TOLERANCE


@pytest.fixture(scope="module")
def sequence(small_pair, image_files):
    """Five nearly identical 32 px frames (the photo with a little fresh noise each) and the waves
    style (the deep field, nearly black at 32 px, changes the frames too little to flicker)."""
    content, _ = small_pair
    style = load_small(image_files / "waves.png", 64)
    photo = np.asarray(Image.fromarray((content * 255).astype(np.uint8)).resize((32, 24)),
                       np.float32) / 255.0
    rng = np.random.default_rng(0)
    frames = [np.clip(photo + rng.uniform(-0.02, 0.02, photo.shape), 0, 1).astype(np.float32)
              for _ in range(5)]
    return frames, style


def flicker(outputs):
    """Mean absolute difference between consecutive outputs."""
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(outputs, outputs[1:])]))


def test_previous_frame_init_flickers_less_than_independent_frames(sequence, vgg_weights):
    frames, style = sequence
    config = Config(image_size=32, num_steps=40, optimizer="lbfgs", precision="float32")
    independent = stylize_batch(frames, style, config, batch_size=1)
    seen = []
    chained = stylize_frames(frames, style, config, on_progress=seen.append)
    # Measured: 0.065 independent, 0.039 chained (each frame continues the optimisation of the
    # ones before; 20 steps are too few for the difference to show on every objective).
    assert flicker(chained) < 0.75 * flicker(independent)
    # The first frame is a plain run; progress counts frames.
    alone = stylize(frames[0], style, config)
    assert np.abs(chained[0] - alone).max() < TOLERANCE["float32"]["lbfgs"][0]
    assert seen[-1].finished and seen[-1].images_done == 5 and "frames 5/5" in seen[-1].line()


@pytest.mark.parametrize("precision", PRECISIONS)
def test_content_blend_one_is_each_frame_alone(sequence, vgg_weights, precision):
    frames, style = sequence
    config = Config(image_size=32, num_steps=2, optimizer="adam", precision=precision)
    chained = stylize_frames(frames[:3], style, config, content_blend=1.0)
    independent = stylize_batch(frames[:3], style, config, batch_size=1)
    for a, b in zip(chained, independent):
        assert np.abs(a - b).max() < TOLERANCE[precision]["adam"][0]
    with pytest.raises(ValueError, match="content_blend"):
        stylize_frames(frames, style, config, content_blend=1.5)


def test_command_writes_each_frame_named_after_it(sequence, tmp_path, image_files, vgg_weights):
    frames, _ = sequence
    folder, out = tmp_path / "frames", tmp_path / "styled"
    folder.mkdir()
    out.mkdir()
    for i, frame in enumerate(frames[:3]):  # f9, f10, f11: natural order, not f10, f11, f9
        Image.fromarray((frame * 255).astype(np.uint8)).save(folder / f"f{i + 9}.png")
    styles = f"{image_files / 'galaxies.jpg'},{image_files / 'waves.png'}"
    result = run_command("--video", f"--content={folder}/*.png", f"--style={styles}",
                         "--style_blend_weights=3,1", f"--output={out}/", "--image_size=32",
                         "--num_steps=2", "--optimizer=adam", "--video_content_blend=0.2")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["f10.png", "f11.png", "f9.png"]
    assert "3 frames in order" in result.stderr and "2 styles blended 0.75/0.25" in result.stderr
    assert "frames 3/3" in result.stderr and "wrote 3 frames" in result.stderr
    assert result.stderr.index("frame 1/3 |") < result.stderr.index("frame 3/3 |")


@pytest.mark.parametrize("flags, message", [
    (["--video", "--strategy=mirrored"], "--strategy=mirrored: not with --video: each frame"),
    (["--video", "--batch_size=2"], "--batch_size=2: not with --video: each frame"),
    (["--video_content_blend=0.5"], "--video_content_blend: only with --video"),
    (["--video", "--style_blend_weights=1,2,3"], "needs one weight per style image (2 given)"),
])
def test_bad_video_or_blend_flags_are_one_line_and_write_nothing(
        sequence, tmp_path, image_files, flags, message):
    frames, _ = sequence
    content = tmp_path / "f1.png"
    Image.fromarray((frames[0] * 255).astype(np.uint8)).save(content)
    out = tmp_path / "out"
    out.mkdir()
    styles = f"{image_files / 'galaxies.jpg'},{image_files / 'waves.png'}"
    result = run_command(f"--content={content}", f"--style={styles}", f"--output={out}/",
                         "--image_size=32", "--num_steps=1", *flags)
    lines = [l for l in result.stderr.splitlines() if l.startswith("tf-nst")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert list(out.iterdir()) == []
