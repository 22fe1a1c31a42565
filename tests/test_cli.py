"""The ``tf-nst`` command, run as a user runs it (a subprocess), or in the test process where
the process itself is not what is tested (tests/in_process.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tf_nst import hardware
from tf_nst.config import Config, fields
from tests import in_process
from tests.conftest import ROOT


def tf_nst(*args, cwd=None, env=None):
    return ended(started(*args, cwd=cwd, env=env))


def started(*args, cwd=None, env=None):
    return subprocess.Popen([sys.executable, "-m", "tf_nst", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd or ROOT, env=env)


def ended(proc) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("tf-nst")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, image_files):
    folder = tmp_path_factory.mktemp("inputs")
    content = Image.open(image_files / "cat.png").convert("RGB")
    content.thumbnail((96, 96))
    content.save(folder / "content.png")
    style = Image.open(image_files / "galaxies.jpg").convert("RGB")
    style.thumbnail((96, 96))
    style.save(folder / "style.jpg")
    (folder / "text.jpg").write_text("this is not an image\n")
    data = (image_files / "galaxies.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    return folder


@pytest.fixture(scope="module")
def processes(inputs, tmp_path_factory):
    """``{name: (folder, result)}`` of this module's runs in a process of their own, started
    together: ``preset``, a run as a user sees it, and ``offline``, one without the weights."""
    folders = {name: tmp_path_factory.mktemp(name) for name in ("preset", "offline")}
    offline = dict(os.environ, KERAS_HOME=str(folders["offline"] / "empty_keras_home"),
                   # A proxy on the discard port makes any download fail at once, online or not.
                   HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
                   http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    procs = {
        # A flag before --preset overrides it as well as one after it (preview.cfg: 256 px,
        # 60 steps).
        "preset": started("--image_size=40", "--preset=preview",
                          f"--content={inputs / 'content.png'}", f"--style={inputs / 'style.jpg'}",
                          f"--output={folders['preset'] / 'out.jpg'}", "--num_steps=4",
                          "--save_every=2", "--print_every=2", "--style_ramp_steps=10"),
        "offline": started(f"--content={inputs / 'content.png'}", f"--style={inputs / 'style.jpg'}",
                           f"--output={folders['offline'] / 'out.png'}", "--image_size=32",
                           "--num_steps=1", env=offline)}
    return {name: (folders[name], ended(proc)) for name, proc in procs.items()}


def test_stylises_with_a_preset_and_writes_snapshots(inputs, processes, vgg_weights):
    folder, result = processes["preset"]
    out = folder / "out.jpg"
    assert result.returncode == 0, result.stderr
    image = Image.open(out)
    assert image.format == "JPEG" and image.size == (40, 30)
    assert (folder / "out_00002.jpg").is_file() and (folder / "out_00004.jpg").is_file()
    assert "style/conv1_1=" in result.stderr and "steps/s" in result.stderr
    # TensorFlow's native start-up log is held to TF_CPP_MIN_LOG_LEVEL (tf_nst.startup).
    assert "absl::InitializeLog" not in result.stderr and "cuda drivers" not in result.stderr
    assert result.stdout == ""  # everything goes to standard error
    # What --precision=auto chose is said: what this machine computes fastest.
    assert f"tf-nst: 40x30 px, lbfgs, {hardware.detect()} (auto), 4 steps" in result.stderr
    assert "style_weight=20 (authors), preset preview\n" in result.stderr
    # A run shorter than its style-weight ramp says how far the weight got.
    assert ("tf-nst: warning: 4 steps end before the style-weight ramp (--style_ramp_steps=10): "
            "the style weight reaches only 0.46 x --style_weight") in result.stderr
    # The stylised image is not the content image any more.
    content = np.asarray(Image.open(inputs / "content.png").resize((40, 30)), np.float32)
    assert np.abs(np.asarray(image, np.float32) - content).mean() > 2.0


BAD = {
    "missing content": (["--content=MISSING"], "MISSING"),
    "not an image": (["--content={inputs}/text.jpg"], "text.jpg"),
    "truncated": (["--content={inputs}/truncated.jpg"], "truncated.jpg"),
    "bomb guard": (["--max_pixels=100"], "--max_pixels"),
    "zero size": (["--image_size=0"], "--image_size"),
    "negative size": (["--image_size=-3"], "--image_size"),
    "content too small for conv5_1": (["--image_size=20"], "content image resized to 20x15 px"),
    "style too small for conv5_1": (["--style_scale=0.4"], "style image resized to 13x"),
    "unknown layer": (["--style_layers=conv1_1,conv9_1"], "conv9_1"),
    "wrong weight count": (["--style_layer_weights=1,2"], "--style_layer_weights"),
    "unknown optimizer": (["--optimizer=sgd"], "optimizer"),
    "not a number": (["--style_weight=lots"], "style_weight"),
    "output format": (["--output={tmp}/out.gif"], ".gif"),
    "output folder": (["--output={tmp}/no/such/dir/out.png"], "dir"),
    "missing weights": (["--weights={tmp}/none.h5"], "--weights="),
    "stray argument": (["extra"], "extra"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_nonzero_and_writes_nothing(case, inputs, tmp_path):
    extra, mention = BAD[case]
    out = tmp_path / "out.png"
    args = {"content": f"--content={inputs / 'content.png'}", "style": f"--style={inputs / 'style.jpg'}",
            "output": f"--output={out}", "image_size": "--image_size=32", "num_steps": "--num_steps=1"}
    for flag in extra:
        flag = flag.format(inputs=inputs, tmp=tmp_path)
        name = flag.split("=")[0].lstrip("-")
        args[name if name in args else flag] = flag
    result = in_process.tf_nst(*args.values())
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("tf-nst: error:"), result.stderr
    assert mention in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_overwritten_without_flag(inputs, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    result = in_process.tf_nst(f"--content={inputs / 'content.png'}",
                               f"--style={inputs / 'style.jpg'}", f"--output={out}",
                               "--image_size=32", "--num_steps=1")
    assert result.returncode != 0 and "--overwrite" in error_lines(result)[0]
    assert out.read_bytes() == b"precious"


FLAG_ERROR_PROBE = """
import sys
from tf_nst import cli
sys.argv = ["tf-nst", "--content=photo.png", *sys.argv[1:]]
try:
    cli.run()
except SystemExit as exit_:
    print(exit_.code, "tensorflow" in sys.modules)
"""


@pytest.mark.parametrize("args, message", [
    (["--style=painting.png", "--content_weight=-1"], "--content_weight=-1.0: must be"),
    ([], "--content and --style are required"),
])
def test_flag_errors_answer_before_tensorflow_loads(args, message):
    done = subprocess.run([sys.executable, "-c", FLAG_ERROR_PROBE, *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.stdout == "2 False\n", done.stderr
    assert done.stderr.startswith(f"tf-nst: error: {message}")


def test_helpfull_documents_every_config_flag_with_its_default():
    result = tf_nst("--helpfull")
    assert result.returncode == 0  # (absl's own parser exits with 1 after the help)
    for field in fields():
        assert (f"--{field.name}" in result.stdout
                or f"--[no]{field.name}" in result.stdout), field.name  # absl booleans
    assert "(default: '512')" in result.stdout and "(default: 'lbfgs')" in result.stdout
    assert "(default: 'conv4_2')" in result.stdout


@pytest.mark.parametrize("preset", sorted(p.name for p in (ROOT / "configs").glob("*.cfg")))
def test_presets_are_valid_configs(preset):
    from tf_nst import presets
    config = presets.load(preset)
    assert isinstance(config, Config)
    if preset.startswith("gatys2016"):
        assert config.content_layers == ("conv4_2",) and config.optimizer == "lbfgs"
        assert config.init == "content" and config.num_steps == 500
        ratio = 1e-3 if config.formulation == "printed" else Config().content_weight / Config().style_weight
        assert config.content_weight / config.style_weight == pytest.approx(ratio)
        assert config.formulation == ("printed" if "printed" in preset else "authors")
    if preset in ("gatys2016.cfg", "gatys2016_printed.cfg"):  # the paper's L-BFGS and arithmetic, whatever the defaults
        assert config.lbfgs_history == 10
        assert config.lbfgs_frequency_gain == 0
        assert config.precision == "float32" and config.style_ramp_steps == 0
    if preset == "gatys2016_fast.cfg":  # the same objective by the measured fastest route
        assert config.lbfgs_history == 100
        assert config.lbfgs_frequency_gain == 64
        assert config.precision == "auto"
        assert config.style_ramp_steps == 200 and config.style_ramp_start == pytest.approx(0.1)


def test_offline_without_cached_weights_says_how_to_provide_them(processes):
    folder, result = processes["offline"]
    out = folder / "out.png"
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "--weights=" in lines[0] and "empty_keras_home" in lines[0]
    assert not out.exists()
    # Keras' "Downloading data from ..." goes to standard error with the error, not to stdout.
    assert result.stdout == "" and "Downloading" in result.stderr
