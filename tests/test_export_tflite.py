"""The on-device model: builtin operators only, and the same optimisation as TensorFlow's."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import Config, ConfigError, StyleTransfer, export
from tf_nst.builder import extractor_for

from tests.conftest import ROOT

# Exported with --precision=auto (a float32 model whatever auto means here); the library's run it
# is compared with is float32.
FLAGS = dict(image_size=32, optimizer="adam", content_layers="conv2_1",
             style_layers="conv1_1,conv2_1", tv_weight=1e-3)
CONFIG = Config(**FLAGS, precision="float32")
STEPS = 4
LOSS_KEYS = ("total", "content", "style", "tv")


@pytest.fixture(scope="module")
def tflite_path(tmp_path_factory, vgg_weights):
    path = tmp_path_factory.mktemp("lite") / "m.tflite"
    done = subprocess.run(
        [sys.executable, "-m", "tf_nst.export_cli", "--format=tflite", f"--output={path}",
         *[f"--{k}={v}" for k, v in FLAGS.items()]],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tf-nst-export: wrote" in done.stderr
    # No INFO lines from TensorFlow's Python side (its saver logs each file it writes).
    assert not re.search(r"^I\d{4} \S+ +\d+ \w+\.py:\d+\]", done.stderr, re.M), done.stderr
    return str(path)


@pytest.fixture(scope="module")
def square_pair(small_pair):
    content, style = small_pair
    side = min(content.shape[:2] + style.shape[:2])
    return content[:side, :side], style[:side, :side]


def test_cli_errors_are_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tf_nst.export_cli", "--format=tflite"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip() == "tf-nst-export: error: --output is required with --format=tflite"
    done = subprocess.run([sys.executable, "-m", "tf_nst.export_cli", "--preset=paper"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.startswith("tf-nst-export: error: --preset=paper: no such preset (presets: ")


def test_builtin_ops_only_and_weights_stored_once(tflite_path):
    from ai_edge_litert.interpreter import Interpreter
    ops = {op["op_name"] for op in Interpreter(model_path=tflite_path)._get_ops_details()}
    assert not any(name.startswith("Flex") or name == "CUSTOM" for name in ops), ops
    assert {"CONV_2D", "READ_VARIABLE"} <= ops  # (first subgraph only)
    data = open(tflite_path, "rb").read()
    assert b"Flex" not in data  # no Flex custom op in any subgraph
    weight_bytes = sum(v.numpy().nbytes for v in extractor_for(CONFIG).variables)
    for v in extractor_for(CONFIG).variables:  # each kernel's bytes appear exactly once
        assert data.count(v.numpy().tobytes()[:4096]) == 1, v.name
    assert os.path.getsize(tflite_path) < 2 * weight_bytes


def _interpreter(model, runtime="ai_edge_litert"):
    """An interpreter of a ``.tflite`` path or flatbuffer bytes."""
    if runtime == "ai_edge_litert":
        from ai_edge_litert.interpreter import Interpreter
    else:
        Interpreter = tf.lite.Interpreter
    if isinstance(model, bytes):
        return Interpreter(model_content=model)
    return Interpreter(model_path=model)


def _tensorflow_after(square_pair, config, steps=STEPS):
    """The library's run of ``config``: the StyleTransfer and its loss terms after ``steps``."""
    content, style = square_pair
    st = StyleTransfer(content, style, config)
    st.step(steps)
    return st, st.objective.loss_terms(tf.constant(st.image[None]), st.targets, st.weights)


def _lite_after(interpreter, st, steps=STEPS):
    interpreter.get_signature_runner("set_images")(content=st.content.numpy(),
                                                   style=st.style.numpy())
    return interpreter.get_signature_runner("run")(num_steps=np.array(steps, np.int32))


def _assert_losses_match(out, terms, rel):
    for k in LOSS_KEYS:
        assert float(out[f"{k}_loss"]) == pytest.approx(float(terms[k][0]), rel=rel), k


@pytest.mark.parametrize("runtime", ["ai_edge_litert", "tf.lite"])
def test_losses_after_k_steps_match_tensorflow(tflite_path, square_pair, runtime):
    st, terms = _tensorflow_after(square_pair, CONFIG)
    interpreter = _interpreter(tflite_path, runtime)
    first = interpreter.get_signature_runner("set_images")(
        content=st.content.numpy(), style=st.style.numpy())
    assert float(first["content_loss"]) == pytest.approx(0.0, abs=1e-3)
    run = interpreter.get_signature_runner("run")
    run(num_steps=np.array(STEPS - 1, np.int32))
    out = run(num_steps=np.array(1, np.int32))  # state persists between calls
    _assert_losses_match(out, terms, rel=1e-4)
    np.testing.assert_allclose(out["image"][0], st.image, atol=1e-5)
    again = interpreter.get_signature_runner("get_image")()
    np.testing.assert_array_equal(again["image"], out["image"])


@pytest.mark.parametrize("preconditioner", [{}, {"lbfgs_frequency_gain": 64.0}],
                         ids=["identity", "fourier"])
def test_lbfgs_exports_and_matches_tensorflow(square_pair, vgg_weights, preconditioner):
    """L-BFGS converts to builtin operators too (its line search is tf.where on the state, its
    history push a tf.cond, which becomes IF); K steps include rejected trial points and
    curvature pairs. With --lbfgs_frequency_gain its initial inverse Hessian's DFT converts as
    matrix products (TFLite has no inverse FFT), which follow TensorFlow's rfft2d/irfft2d."""
    from tf_nst.export import convert_tflite

    config = CONFIG.replace(optimizer="lbfgs", **preconditioner)
    steps = 6
    st, terms = _tensorflow_after(square_pair, config, steps)
    interpreter = _interpreter(convert_tflite(config))
    out = _lite_after(interpreter, st, steps)
    _assert_losses_match(out, terms, rel=1e-4)
    np.testing.assert_allclose(out["image"][0], st.image, atol=1e-5)


def test_resize_as_matrix_products_equals_the_library():
    from tf_nst import images, tflite_ops

    rng = np.random.default_rng(0)
    for source, target in [((40, 40), (32, 32)), ((32, 32), (40, 40)), ((30, 41), (17, 64))]:
        x = rng.random((2, *source, 3)).astype(np.float32)
        np.testing.assert_allclose(tflite_ops.resize(tf.constant(x), target),
                                   images.resize_image(x, target), atol=1e-6)


def test_histogram_colour_transfer_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="^--color_transfer=histogram: not with a TFLite model: "
                                          "--color_transfer=histogram's matrix square roots need "
                                          "an eigendecomposition") as err:
        export.lite_config(CONFIG.replace(color_transfer="histogram"))
    assert "\n" not in str(err.value)


def test_scales_colours_and_blended_styles_match_tensorflow(square_pair, vgg_weights):
    """--scales=2 --original_colors --color_transfer=luminance with two blended styles: calls
    that stop inside a scale and cross into the next keep the library's schedule, its losses at
    every call and its image at the end."""
    from tf_nst.export import convert_tflite
    from tf_nst.inputs import prepare

    config = CONFIG.replace(image_size=40, scales=2, scale_factor=1.25, num_steps=4,
                            original_colors=True, color_transfer="luminance",
                            style_blend_weights=(3.0, 1.0))
    content, style = (prepare(a, 40)[0].numpy() for a in square_pair)
    second = 1.0 - style  # the style's negative: other colours, the same size
    st = StyleTransfer(content, [style, second], config)
    interpreter = _interpreter(convert_tflite(config))
    interpreter.get_signature_runner("set_images")(content=content[None], style=style[None],
                                                   style_2=second[None])
    run = interpreter.get_signature_runner("run")
    for steps in (1, 2, 1):  # scale 0, then across the boundary, then scale 1
        out = run(num_steps=np.array(steps, np.int32))
        st.step(steps)
        terms = st.objective.loss_terms(tf.constant(st.image[None]), st.targets, st.weights)
        _assert_losses_match(out, terms, rel=1e-4)
    assert st.scale == 1
    # The resize between scales is the library's filter as matrix products (equal within 1e-6,
    # above), which the second scale's steps carry on.
    np.testing.assert_allclose(out["image"][0], st.image, atol=5e-5)


def test_float16_weights_halve_the_weights_and_keep_the_losses(tflite_path, square_pair,
                                                               vgg_weights):
    """Only the network's weights are stored in float16; the losses after K steps stay within
    1e-3 (relative) of the float32 model's (measured: ~1e-5)."""
    from tf_nst.export import convert_tflite

    half = convert_tflite(CONFIG, "float16")
    full = open(tflite_path, "rb").read()
    weights = [v.numpy() for v in extractor_for(CONFIG).variables]
    weight_bytes = sum(w.nbytes for w in weights)
    assert len(full) - len(half) == pytest.approx(weight_bytes / 2, rel=0.02)
    for w in weights:  # stored once, in half precision only
        assert half.count(w.astype(np.float16).tobytes()[:2048]) == 1
        assert half.count(w.tobytes()[:4096]) == 0
    st, _ = _tensorflow_after(square_pair, CONFIG, 0)
    out32 = _lite_after(_interpreter(tflite_path), st)
    out16 = _lite_after(_interpreter(half), st)
    _assert_losses_match(out16, {k: [out32[f"{k}_loss"]] for k in LOSS_KEYS}, rel=1e-3)
    assert np.abs(out16["image"] - out32["image"]).max() < 0.05


def test_auto_precision_exports_float32_even_where_auto_means_bfloat16(monkeypatch, vgg_weights):
    monkeypatch.setenv("TF_NST_AUTO_PRECISION", "mixed_bfloat16")
    module = export.OnDeviceModule(Config(image_size=32, num_steps=1))  # no error: float32
    assert module.content_shape == [1, 32, 32, 3]
    for precision in ("mixed_bfloat16", "mixed_float16"):
        with pytest.raises(ConfigError, match=f"^--precision={precision}: not with a TFLite "
                                              "model: TFLite's builtin operators compute in "
                                              "float32") as err:
            export.OnDeviceModule(Config(image_size=32, num_steps=1, precision=precision))
        assert "\n" not in str(err.value)


def test_the_model_file_gets_the_permissions_of_a_new_file(tflite_path):
    mask = os.umask(0o022)  # tempfile makes its files 0600
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tflite_path).st_mode) == 0o666 & ~mask


def test_the_stopping_rule_ends_the_on_device_run_where_the_library_stops(square_pair,
                                                                          vgg_weights):
    """A tolerance every judged step meets: the library stops at step 21 of 25, and so does the
    on-device model, whose later calls then change nothing."""
    from tf_nst.export import convert_tflite
    from tf_nst.inputs import prepare

    config = CONFIG.replace(num_steps=25, stop_tolerance=1e9)
    content, style = (prepare(a, 32)[0].numpy() for a in square_pair)
    st = StyleTransfer(content, style, config)
    st.run()
    assert st.steps_done == 21
    interpreter = _interpreter(convert_tflite(config))
    interpreter.get_signature_runner("set_images")(content=content[None], style=style[None])
    run = interpreter.get_signature_runner("run")
    out = run(num_steps=np.array(25, np.int32))
    np.testing.assert_allclose(out["image"][0], st.image, atol=5e-5)
    again = run(num_steps=np.array(5, np.int32))
    np.testing.assert_array_equal(again["image"], out["image"])
