"""The on-device model: builtin operators only, and the same optimisation as TensorFlow's."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import Config, StyleTransfer
from tf_nst.transfer import extractor_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = dict(image_size=32, optimizer="adam", content_layers="conv2_1",
             style_layers="conv1_1,conv2_1", tv_weight=1e-3)
CONFIG = Config(**FLAGS)
STEPS = 4


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


@pytest.mark.parametrize("runtime", ["ai_edge_litert", "tf.lite"])
def test_losses_after_k_steps_match_tensorflow(tflite_path, square_pair, runtime):
    content, style = square_pair
    st = StyleTransfer(content, style, CONFIG)
    st.step(STEPS)
    terms = st.objective.loss_terms(tf.constant(st.image[None]), st.targets, st.weights)
    if runtime == "ai_edge_litert":
        from ai_edge_litert.interpreter import Interpreter
    else:
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=tflite_path)
    first = interpreter.get_signature_runner("set_images")(
        content=st.content.numpy(), style=st.style.numpy())
    assert float(first["content_loss"]) == pytest.approx(0.0, abs=1e-3)
    run = interpreter.get_signature_runner("run")
    run(num_steps=np.array(STEPS - 1, np.int32))
    out = run(num_steps=np.array(1, np.int32))  # state persists between calls
    for k in ("total", "content", "style", "tv"):
        assert float(out[f"{k}_loss"]) == pytest.approx(float(terms[k][0]), rel=1e-4), k
    np.testing.assert_allclose(out["image"][0], st.image, atol=1e-5)
    again = interpreter.get_signature_runner("get_image")()
    np.testing.assert_array_equal(again["image"], out["image"])
