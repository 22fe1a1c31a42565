"""The memory estimate is close to what a run really uses, and a run that cannot fit is refused."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.in_process import tf_nst
from tf_nst import resources
from tf_nst.config import Config

MEASURE = """
import json, sys
import numpy as np
from tf_nst import Config, StyleTransfer, resources
size = int(sys.argv[1])
rng = np.random.default_rng(0)
config = Config(image_size=size, optimizer="lbfgs", num_steps=2)
st = StyleTransfer(rng.random((size * 3 // 4, size, 3)), rng.random((size, size, 3)), config)
st.run()
estimate = resources.estimate(config, size * 3 // 4, size, size, size).total
print(json.dumps((resources.peak_resident_bytes(), estimate)))
"""


def _peaks_and_estimates(*sizes: int) -> list[tuple[float, float]]:
    """Peak RSS of a fresh process that runs 2 steps at each of ``sizes`` px, and the estimate
    for it; the processes run at the same time.

    One process per size: the peak is a high-water mark, so a second run in the same process
    would hide below the first one's peak (and the process's own peak, VmHWM, not ru_maxrss,
    which a subprocess inherits from this big pytest process)."""
    procs = [subprocess.Popen([sys.executable, "-c", MEASURE, str(size)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for size in sizes]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
    return [tuple(json.loads(out.splitlines()[-1])) for out, _ in outputs]


def test_estimate_is_within_a_factor_of_two_of_the_measured_peak(vgg_weights):
    (rss_small, est_small), (rss_big, est_big) = _peaks_and_estimates(64, 320)
    assert 0.5 < rss_big / est_big < 2.0, (rss_big, est_big)
    # The part that grows with the image, which is what the check is for.
    growth = (rss_big - rss_small) / (est_big - est_small)
    assert 0.5 < growth < 2.0, (rss_small, est_small, rss_big, est_big)


def test_estimate_grows_with_size_history_and_precision():
    config = Config(image_size=512, precision="float32")  # auto may be bfloat16 here
    small, big = resources.estimate(config, 384, 512), resources.estimate(config, 768, 1024)
    assert big.activations == pytest.approx(4 * small.activations, rel=0.02)
    adam = resources.estimate(config.replace(optimizer="adam"), 384, 512)
    lbfgs20 = resources.estimate(config.replace(lbfgs_history=20), 384, 512)
    assert adam.optimizer_state < small.optimizer_state < lbfgs20.optimizer_state
    bf16 = resources.estimate(config.replace(precision="mixed_bfloat16"), 384, 512)
    assert bf16.activations < small.activations
    # Only the layers up to the deepest one used are run.
    shallow = resources.estimate(config.replace(content_layers=("conv2_2",),
                                                style_layers=("conv1_1",)), 384, 512)
    assert shallow.activations < 0.8 * small.activations
    assert resources.estimate(config, 384, 512, checkpointing=True).checkpoint > 0


def test_a_run_that_cannot_fit_is_refused_with_what_to_change(monkeypatch):
    monkeypatch.setattr(resources, "available_bytes", lambda: 2e9)
    monkeypatch.setattr(resources, "resident_bytes", lambda: 0.0)
    config = Config(image_size=4096)
    with pytest.raises(resources.ResourceError) as err:
        resources.check(config, 3072, 4096)
    message = str(err.value)
    assert "\n" not in message and "only 2.0 GB is available" in message
    fits = int(message.split("--image_size=")[1].split()[0])
    assert 64 <= fits < 4096 and fits % 64 == 0
    assert resources.estimate(config, fits * 3 // 4, fits).total <= 2e9
    assert resources.estimate(config, (fits + 64) * 3 // 4, fits + 64).total > 2e9
    assert "--memory_limit_gb" in message and "--nocheck_memory" in message
    # What fits passes; an explicit limit replaces the detected memory.
    assert resources.check(config, fits * 3 // 4, fits).total <= 2e9
    assert resources.check(config, 3072, 4096, limit_bytes=1e12).total > 2e9
    # The style image shrinks with the suggested size too.
    with pytest.raises(resources.ResourceError, match="--image_size=" + str(fits)):
        resources.check(config, 3072, 4096, style_height=4096, style_width=4096)


def test_peak_resident_memory_is_this_process_own():
    peak = resources.peak_resident_bytes()
    assert peak >= resources.resident_bytes() > 0
    # A fresh interpreter started from this process while it holds 300 MB reports its own,
    # smaller peak (ru_maxrss would report at least the 300 MB of the parent it was forked from).
    ballast = np.ones(300_000_000, np.uint8)
    assert resources.peak_resident_bytes() > 300e6
    child = subprocess.run([sys.executable, "-c", "from tf_nst import resources; "
                            "print(resources.peak_resident_bytes())"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    assert 0 < float(child.stdout) < 200e6
    del ballast


def test_available_memory_is_read():
    room = resources.available_bytes()
    assert room is None or room > 0


def test_cli_refuses_before_loading_anything(tmp_path):
    content = tmp_path / "c.png"
    from PIL import Image
    Image.new("RGB", (400, 300), "white").save(content)
    result = tf_nst(f"--content={content}", f"--style={content}", f"--output={tmp_path / 'out.png'}",
                    "--image_size=4000", "--memory_limit_gb=1.5")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("tf-nst")]
    assert len(lines) == 1 and "4000x3000 px run needs about" in lines[0]
    assert "allowed by --memory_limit_gb" in lines[0] and "--image_size=" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_style_forward_pass_keeps_every_style_map_beside_the_largest_layer(precision):
    # Tiled 4096 px (one tile's activations) with a 2048 px style: the style's forward pass is
    # the peak. Its style maps (conv1_1..conv5_1: 64 + 128/4 + 256/16 + 512/64 + 512/256 = 122
    # channels at full size) are kept beside the largest map (conv1_2, 64), 4 bytes each.
    config = Config(image_size=4096, tile_size=1024, style_scale=0.5, precision=precision)
    without = resources.estimate(config, 4096, 4096)
    with_style = resources.estimate(config, 4096, 4096, 2048, 2048)
    style_pass = 4 * 2048 * 2048 * (122 + 64)
    assert with_style.targets - without.targets == pytest.approx(
        style_pass - without.activations)
    # Where it is the peak, a run that cannot fit is told the --style_scale that fits.
    config = config.replace(tile_size=512)
    budget = resources.estimate(config, 4096, 4096, 1024, 1024).total
    assert resources.estimate(config, 4096, 4096, 1536, 1536).total > budget
    with pytest.raises(resources.ResourceError, match="--style_scale=0.25 fits"):
        resources.check(config, 4096, 4096, budget, 2048, 2048)
