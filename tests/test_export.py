"""The exported SavedModel: it runs the library's optimisation in every loader, statelessly, within
its limits. Exported once per module at 40 px with a few steps; compared with StyleTransfer."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_nst import Config, StyleTransfer, images
from tf_nst.config import ConfigError
from tf_nst import export

from tests.conftest import ROOT

PYTHON = sys.executable
# What the command runs with --scales=2 --original_colors --color_transfer=histogram (scales of
# 32 and 40 px, two steps each), and a style-weight continuation over each scale's steps, so the
# served graph's schedule, colour controls and ramp are held to the library's.
CONFIG = Config(image_size=40, num_steps=4, tv_weight=1e-3, max_pixels=64 * 64 + 1,
                style_ramp_steps=2, style_ramp_start=0.25, lbfgs_frequency_gain=64,
                precision="float32", scales=2, scale_factor=1.25, original_colors=True,
                color_transfer="histogram")
PRECISIONS = ("float32", "mixed_bfloat16")
LIMITS = export.Limits(max_steps=20, max_pixels=48 * 48)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pairs(small_pair):
    """Two (content, style) uint8 pairs: the cat with the deep field, and swapped."""
    content, style = (images.to_uint8(a) for a in small_pair)
    return [(content, style), (style, content)]


def library_result(content: np.ndarray, style: np.ndarray, config: Config = CONFIG):
    st = StyleTransfer(content, style, config)
    st.step(config.num_steps)
    terms = st.objective.loss_terms(tf.constant(st.image[None]), st.targets, st.weights)
    return st.image, {k: float(terms[k][0]) for k in export.LOSS_OUTPUTS}


@pytest.fixture(scope="module")
def expected(pairs, vgg_weights):
    return [library_result(c, s) for c, s in pairs]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, vgg_weights):
    path = str(tmp_path_factory.mktemp("export") / "tf_nst" / "1")
    return export.export_saved_model(CONFIG, path, LIMITS)


@pytest.fixture(scope="module")
def loaded(model_dir):
    return tf.saved_model.load(model_dir)


def assert_matches(image: np.ndarray, losses: dict, want) -> None:
    want_image, want_losses = want
    np.testing.assert_allclose(image, want_image, atol=2e-5)
    for k in export.LOSS_OUTPUTS:
        assert losses[k] == pytest.approx(want_losses[k], rel=1e-4, abs=1e-3), k


def _ended(proc: subprocess.Popen) -> str:
    """The standard output of ``proc`` once it has ended; it must end well."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


# --- pure pieces, no weights ----------------------------------------------------------------------
def test_graph_scaled_size_and_style_side_equal_the_library():
    cases = [(h, w, s) for h in (1, 2, 3, 7, 30, 31, 480, 512, 1001) for w in (1, 5, 40, 511, 640)
             for s in (1, 3, 40, 64, 255, 512)]
    got = export.scaled_size(*(tf.constant([c[i] for c in cases]) for i in range(3)))
    # scaled_size is elementwise over the batch of cases
    assert got.shape == (2, len(cases))
    for (h, w, s), size in zip(cases, np.asarray(tf.transpose(got))):
        assert tuple(size) == images.scaled_size(h, w, s)
    for h, w, s in cases[:40]:
        assert tuple(export.scaled_size(h, w, s).numpy()) == images.scaled_size(h, w, s)
    for size, scale in [(40, 0.5), (41, 0.5), (43, 0.5), (512, 0.75), (3, 0.1), (255, 1.5)]:
        assert int(export.style_side(size, scale)) == Config(style_scale=scale).style_side(size)


def test_graph_schedule_equals_the_configs():
    """The scales' sides and steps a request gets are Config.scale_sizes and scale_steps."""
    for scales, factor, steps_per_scale in [(1, 2.0, ()), (2, 1.25, ()), (3, 1.5, ()),
                                            (3, 2.0, (1, 0, 4)), (4, 1.3, ())]:
        config = Config(image_size=512, num_steps=5, scales=scales, scale_factor=factor,
                        steps_per_scale=steps_per_scale)
        for size in (32, 40, 41, 63, 97, 255, 512, 1000):
            for num_steps in ((5,) if steps_per_scale else (0, 1, 5, 7, 100)):
                try:
                    want = config.replace(image_size=size, num_steps=num_steps)
                except ConfigError:  # a coarsest scale under 32 px: no command runs it
                    continue
                sides = export.scale_sides(config, tf.constant(size))
                assert [int(s) for s in sides] == list(want.scale_sizes), (size, factor)
                steps = export.scale_steps(config, tf.constant(num_steps))
                assert [int(n) for n in steps] == list(want.scale_steps), (num_steps, scales)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P"])
def test_graph_decoding_equals_the_library_reader(mode):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (9, 13, 4), dtype=np.uint8)
    image = Image.fromarray(rgba, "RGBA").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    got = export.decode(tf.constant(data), 10_000, "content")[0].numpy()
    np.testing.assert_allclose(got, images.decode_image(data), atol=1e-6)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_graph_decoding_applies_the_exif_orientation_as_the_library(fmt):
    """All eight orientations, big- and little-endian EXIF, after an APP0 segment (JPEG); and a
    corrupt EXIF block reads as stored, as in the library (tests/test_images.py)."""
    decode = tf.function(lambda data: export.decode(data, 10_000, "content")[0])
    pixels = np.zeros((16, 24, 3), np.uint8)  # blocks that JPEG keeps, a corner to find
    pixels[..., 2] = 255
    pixels[:8, :8] = (255, 0, 0)
    pixels[8:, 16:] = (0, 255, 0)
    cases = [(o, "<" if o % 2 else ">") for o in range(1, 9)]
    for orientation, order in cases + [(None, None)]:
        exif = Image.Exif()
        if orientation is not None:
            exif[0x0112] = orientation
            exif_bytes = exif.tobytes() if order == "<" else (
                b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01"
                + bytes([0, orientation, 0, 0]) + b"\x00\x00\x00\x00")
        else:
            exif_bytes = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12"  # cut short
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt, exif=exif_bytes, quality=95)
        data = buffer.getvalue()
        want = images.decode_image(data)
        assert want.shape[:2] == ((24, 16) if (orientation or 0) >= 5 else (16, 24))
        if orientation in (2, 3, 4):  # the library did move the red corner
            assert want[3, 3, 0] < 0.5
        got = decode(tf.constant(data)).numpy()
        assert got.shape == want.shape, orientation
        np.testing.assert_allclose(got, want, atol=0.03 if fmt == "JPEG" else 1e-6,
                                   err_msg=f"orientation {orientation} ({order})")


def test_decoding_refuses_too_many_pixels_before_decoding():
    data = png_bytes(np.zeros((50, 60, 3), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="content image is too large"):
        export.decode(tf.constant(data), 50 * 60 - 1, "content")


@pytest.mark.parametrize("config, limits, message", [
    (Config(init="start.png"), export.Limits(), "^--init=start.png: not with an exported "
                                                "SavedModel: a file path is not a request input"),
    (Config(tile_size=256), export.Limits(), "^--tile_size=256: not with an exported "
                                             "SavedModel: tiling visits the tiles of a canvas"),
    (Config(), export.Limits(max_steps=10), "^--num_steps=500.*--max_steps=10"),
    (Config(), export.Limits(max_pixels=1000), "^--image_size=512.*--max_output_pixels"),
    (Config(image_size=24, style_scale=0.5), export.Limits(),
     "style image resized to 12x12 px is too small for conv5_1"),
    # The coarse scale (32 px, style 14 px) is what is too small, as in StyleTransfer.
    (Config(image_size=40, scales=2, scale_factor=1.25, style_scale=0.45), export.Limits(),
     "style image resized to 14x14 px is too small for conv5_1.* or use fewer --scales"),
])
def test_unexportable_configs_are_refused_in_one_line(config, limits, message):
    with pytest.raises(ConfigError, match=message) as err:
        export.check_exportable(config, limits)
    assert "\n" not in str(err.value)


def test_what_the_command_runs_is_exportable():
    export.check_exportable(Config(image_size=24, style_scale=0.5, style_layers=("conv1_1",),
                                   content_layers=("conv4_2",)), export.Limits())
    export.check_exportable(CONFIG.replace(style_blend_weights=(3, 1), init="style",
                                           steps_per_scale=(1, 3)), LIMITS)


# --- the SavedModel -------------------------------------------------------------------------------
def _meta_graph(model_dir):
    from tensorflow.core.protobuf import saved_model_pb2
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return proto.meta_graphs[0]


def test_signatures_dtypes_shapes_and_defaults(model_dir):
    meta = _meta_graph(model_dir)
    sigs = meta.signature_def
    scalars = {"num_steps": tf.int32, "content_weight": tf.float32, "style_weight": tf.float32,
               "tv_weight": tf.float32, "image_size": tf.int32, "seed": tf.int64}
    for name, image_dtype, image_rank in [("serving_default", tf.string, 0),
                                          ("stylize_tensors", tf.float32, 3)]:
        sig = sigs[name]
        assert sig.method_name == "tensorflow/serving/predict"
        assert set(sig.inputs) == {"content", "style", *scalars}
        for key in ("content", "style"):
            assert sig.inputs[key].dtype == image_dtype.as_datatype_enum
            assert len(sig.inputs[key].tensor_shape.dim) == image_rank
        for key, dtype in scalars.items():
            assert sig.inputs[key].dtype == dtype.as_datatype_enum
            assert len(sig.inputs[key].tensor_shape.dim) == 0
        # The optional inputs carry the export's Config as defaults (TF Serving honours them).
        defaults = {k: tf.make_ndarray(v).item() for k, v in sig.defaults.items()}
        assert defaults == pytest.approx({k: getattr(CONFIG, k) for k in scalars})
        losses = {f"{k}_loss" for k in export.LOSS_OUTPUTS}
        assert losses | {"height", "width"} <= set(sig.outputs)
    assert sigs["serving_default"].outputs["png_bytes"].dtype == tf.string.as_datatype_enum
    tensors = sigs["stylize_tensors"].outputs
    assert tensors["image"].dtype == tf.float32.as_datatype_enum
    assert tensors["image_uint8"].dtype == tf.uint8.as_datatype_enum
    assert len(tensors["image"].tensor_shape.dim) == 3


def test_weights_saved_once_and_no_filter_gradient(model_dir):
    from tf_nst.builder import extractor_for
    weight_bytes = sum(v.numpy().nbytes for v in extractor_for(CONFIG).variables)
    variables = os.path.join(model_dir, "variables")
    saved = sum(os.path.getsize(os.path.join(variables, f)) for f in os.listdir(variables))
    assert weight_bytes <= saved < 1.01 * weight_bytes
    # TF's Conv2D gradient always emits a filter-gradient node; the function runtime prunes
    # nodes that no output depends on. Check that no weight gradient is reachable from any
    # function's outputs, i.e. none is ever computed.
    meta = _meta_graph(model_dir)
    reachable_ops = set()
    for function in meta.graph_def.library.function:
        nodes = {n.name: n for n in function.node_def}
        todo = [v.split(":")[0] for v in function.ret.values()]
        todo += [v.split(":")[0] for v in function.control_ret.values()]
        seen = set()
        while todo:
            name = todo.pop().lstrip("^")
            if name in seen or name not in nodes:
                continue
            seen.add(name)
            todo += [i.split(":")[0] for i in nodes[name].input]
        reachable_ops |= {nodes[n].op for n in seen}
    assert "Conv2DBackpropInput" in reachable_ops  # the image's gradient is computed ...
    assert "Conv2DBackpropFilter" not in reachable_ops  # ... the weights' is not
    assert "BiasAddGrad" not in reachable_ops
    assert "While" in reachable_ops or "StatelessWhile" in reachable_ops


TF2_SCRIPT = r"""
import io, json, sys, numpy as np, tensorflow as tf
model_dir, content, style, out, defaults = sys.argv[1:]
m = tf.saved_model.load(model_dir)
c, s = open(content, "rb").read(), open(style, "rb").read()
# The restored function knows the defaults; the signature needs every input in TF2.
a = m.stylize(content=tf.constant(c), style=tf.constant(s))
dtypes = dict(num_steps=tf.int32, image_size=tf.int32, seed=tf.int64)
full = {k: tf.constant(v, dtypes.get(k, tf.float32)) for k, v in json.loads(defaults).items()}
b = m.signatures["serving_default"](content=tf.constant(c), style=tf.constant(s), **full)
decode = lambda p: tf.io.decode_png(p).numpy()
ft = lambda p: tf.image.convert_image_dtype(tf.io.decode_png(tf.constant(open(p, "rb").read())), tf.float32)
t = m.signatures["stylize_tensors"](content=ft(content), style=ft(style), **full)
np.savez(out, png_a=decode(a["png_bytes"]), png_b=decode(b["png_bytes"]), image=t["image"].numpy(),
         uint8=t["image_uint8"].numpy(),
         **{k: v.numpy() for k, v in a.items() if k.endswith("_loss")})
"""


@pytest.fixture(scope="module")
def other_programs(model_dir, pairs, tmp_path_factory):
    """``(folder, {name: process})``: the first pair served by two other programs at the same
    time, each in a process of its own: ``tf2``, TF2's loader in a fresh process (TF2_SCRIPT,
    writing out.npz), and ``cli``, TensorFlow's saved_model_cli (writing into out/)."""
    content, style = pairs[0]
    folder = tmp_path_factory.mktemp("served")
    for name, image in (("c", content), ("s", style)):
        (folder / f"{name}.png").write_bytes(png_bytes(image))
        np.save(folder / f"{name}.npy", np.array(png_bytes(image), dtype=object),
                allow_pickle=True)
    defaults = json.dumps({k: getattr(CONFIG, k) for k in export.REQUEST_SCALARS})
    quiet = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    tf2 = [PYTHON, "-c", TF2_SCRIPT, model_dir, str(folder / "c.png"), str(folder / "s.png"),
           str(folder / "out.npz"), defaults]
    cli = [os.path.join(os.path.dirname(PYTHON), "saved_model_cli"), "run", "--dir", model_dir,
           "--tag_set", "serve", "--signature_def", "serving_default",
           "--inputs", f"content={folder / 'c.npy'};style={folder / 's.npy'}",
           "--input_exprs", "num_steps=4", "--outdir", str(folder / "out")]
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processes = {"tf2": subprocess.Popen(tf2, env=dict(quiet, PYTHONPATH=str(ROOT)), **pipes),
                 "cli": subprocess.Popen(cli, env=quiet, **pipes)}
    yield folder, processes
    for proc in processes.values():  # a program whose test did not wait for it
        proc.kill()
        proc.communicate()


def test_tf2_loader_in_a_fresh_process_matches_the_library(other_programs, expected):
    (folder, processes), want = other_programs, expected[0]
    _ended(processes["tf2"])
    got = np.load(folder / "out.npz")
    assert_matches(got["image"], {k: float(got[f"{k}_loss"]) for k in export.LOSS_OUTPUTS}, want)
    want_png = images.to_uint8(want[0])
    assert np.abs(got["png_a"].astype(int) - want_png).max() <= 1
    np.testing.assert_array_equal(got["png_a"], got["png_b"])
    # Two graphs of the same computation: a pixel may round to the other side of a half.
    assert np.abs(got["uint8"].astype(int) - got["png_a"]).max() <= 1
    assert got["png_a"].shape == (30, 40, 3)


def test_tf1_session_loader_with_optional_inputs_omitted(model_dir, pairs, expected):
    (content, style), want = pairs[0], expected[0]
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], model_dir)
        sig = meta.signature_def["serving_default"]
        fetch = {k: v.name for k, v in sig.outputs.items()}
        feed = {sig.inputs["content"].name: png_bytes(content),
                sig.inputs["style"].name: png_bytes(style)}
        out = sess.run(fetch, feed)
        got_png = np.asarray(Image.open(io.BytesIO(out["png_bytes"])))
        assert np.abs(got_png.astype(int) - images.to_uint8(want[0])).max() <= 1
        for k in export.LOSS_OUTPUTS:
            assert float(out[f"{k}_loss"]) == pytest.approx(want[1][k], rel=1e-4, abs=1e-3)
        # A request over the limit fails as InvalidArgument with the message.
        feed[sig.inputs["num_steps"].name] = 21
        with pytest.raises(tf.errors.InvalidArgumentError, match="limit of this server: 20"):
            sess.run(fetch, feed)


def test_saved_model_cli_runs_it(other_programs, expected):
    (folder, processes), want = other_programs, expected[0]
    _ended(processes["cli"])
    png = np.load(folder / "out" / "png_bytes.npy", allow_pickle=True).item()
    assert np.abs(tf.io.decode_png(png).numpy().astype(int) - images.to_uint8(want[0])).max() <= 1
    total = float(np.load(folder / "out" / "total_loss.npy"))
    assert total == pytest.approx(want[1]["total"], rel=1e-4)


def test_concurrent_requests_equal_each_alone(loaded, pairs):
    fn = loaded.signatures["stylize_tensors"]
    full = dict(num_steps=tf.constant(3), content_weight=tf.constant(1.0),
                style_weight=tf.constant(1e3), tv_weight=tf.constant(1e-3),
                image_size=tf.constant(40), seed=tf.constant(0, tf.int64))
    inputs = [dict(content=tf.constant(c / 255.0, tf.float32),
                   style=tf.constant(s / 255.0, tf.float32)) for c, s in pairs]
    alone = [fn(**x, **full)["image"].numpy() for x in inputs]
    assert alone[0].shape != alone[1].shape  # a 4:3 photo vs the 8:7 deep field
    results = [None, None]

    def request(i):
        results[i] = fn(**inputs[i], **full)["image"].numpy()

    threads = [threading.Thread(target=request, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for got, want in zip(results, alone):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_burst_with_bad_requests_refuses_them_and_serves_the_others(loaded, pairs):
    """Eight requests at once, half of them bad: each bad one gets its own InvalidArgument, each
    good one the image it gets alone."""
    good = [dict(content=tf.constant(png_bytes(c)), style=tf.constant(png_bytes(s)),
                 num_steps=tf.constant(2)) for c, s in pairs]
    alone = [loaded.stylize(**args)["png_bytes"].numpy() for args in good]
    bad = [
        (dict(good[0], num_steps=tf.constant(21)), "num_steps is above the limit"),
        (dict(good[1], image_size=tf.constant(60)), "more pixels than the limit"),
        (dict(good[0], content=tf.constant(b"not an image")), "Unknown image file format"),
        (dict(good[1], style=tf.constant(png_bytes(np.zeros((65, 64, 3), np.uint8)))),
         "style image is too large"),
    ]
    requests = [(args, None) for args in good * 2] + bad
    outcomes = [None] * len(requests)

    def request(i):
        try:
            outcomes[i] = loaded.stylize(**requests[i][0])["png_bytes"].numpy()
        except tf.errors.InvalidArgumentError as err:
            outcomes[i] = err

    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for i, (outcome, (_, message)) in enumerate(zip(outcomes, requests)):
        if message is None:
            assert outcome == alone[i % 2], f"good request {i} changed by the burst"
        else:
            assert isinstance(outcome, tf.errors.InvalidArgumentError), (i, outcome)
            assert re.search(message, outcome.message), (i, outcome.message)


@pytest.mark.parametrize("change, message", [
    (dict(num_steps=21), "num_steps is above the limit of this server: 20"),
    (dict(num_steps=-1), "num_steps must be >= 0"),
    (dict(image_size=60), "more pixels than the limit of this server: 2,304"),
    (dict(image_size=0), "image_size must be positive"),
    (dict(image_size=20), "image at this image_size is too small for conv5_1, which needs at "
                          "least 16 px on each side"),
    (dict(style_weight=-1.0), "style_weight must be a finite non-negative number"),
])
def test_limits_refuse_oversize_requests_with_a_message(loaded, pairs, change, message):
    content, style = pairs[0]
    args = dict(content=tf.constant(png_bytes(content)), style=tf.constant(png_bytes(style)))
    args.update({k: tf.constant(v) for k, v in change.items()})
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.stylize(**args)


def test_decoded_pixel_limit_refuses_large_inputs(loaded, pairs):
    big = png_bytes(np.zeros((65, 64, 3), np.uint8))  # 4160 > max_pixels 4097
    with pytest.raises(tf.errors.InvalidArgumentError, match="style image is too large"):
        loaded.stylize(content=tf.constant(png_bytes(pairs[0][0])), style=tf.constant(big))


@pytest.fixture(scope="module")
def bfloat16_dir(tmp_path_factory, vgg_weights):
    path = str(tmp_path_factory.mktemp("export") / "bf16" / "1")
    return export.export_saved_model(CONFIG.replace(precision="mixed_bfloat16"), path, LIMITS)


@contextlib.contextmanager
def tf1_session(model_dir: str):
    """Requests through the TF1 loader TF Serving uses: ``(request, graph)`` with
    ``request(signature, feed) -> outputs``."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], model_dir)

        def request(signature: str, feed: dict) -> dict:
            sig = meta.signature_def[signature]
            return sess.run({k: v.name for k, v in sig.outputs.items()},
                            {sig.inputs[k].name: v for k, v in feed.items()})

        yield request, sess.graph


def chroma(image: np.ndarray) -> np.ndarray:
    """YIQ's I and Q: what --original_colors takes from the content."""
    return tf.image.rgb_to_yiq(image).numpy()[..., 1:]


def content_at_output(content: np.ndarray) -> np.ndarray:
    return images.resize_image(content[None] / 255.0, (30, 40))[0].numpy()


# bfloat16 keeps 8 significant bits: the served graph's kernels and the library's round the
# network's features differently, by up to 2^-8 of each; the images agree within that spacing,
# and the losses, squared differences of such features, within a few of it.
TOLERANCE = {"float32": 2e-5, "mixed_bfloat16": 2.0 ** -8}
LOSS_TOLERANCE = {"float32": 1e-4, "mixed_bfloat16": 2.0 ** -6}


@pytest.mark.parametrize("precision", PRECISIONS)
def test_tf1_loader_serves_the_commands_image(request, precision, pairs, expected):
    """An export with --scales=2 --original_colors --color_transfer=histogram serves the image
    StyleTransfer makes with the same Config (the command runs StyleTransfer), in the content's
    colours; compared like with like at each precision."""
    config = CONFIG.replace(precision=precision)
    model_dir = request.getfixturevalue("model_dir" if precision == "float32" else "bfloat16_dir")
    content, style = pairs[0]
    want = expected[0] if precision == "float32" else library_result(content, style, config)
    with tf1_session(model_dir) as (request, graph):
        out = request("stylize_tensors", {"content": content / 255.0, "style": style / 255.0})
    assert out["image"].shape == (30, 40, 3)
    np.testing.assert_allclose(out["image"], want[0], atol=TOLERANCE[precision])
    for k in export.LOSS_OUTPUTS:
        assert out[f"{k}_loss"] == pytest.approx(want[1][k], rel=LOSS_TOLERANCE[precision]), k
    # --original_colors: the content's chroma (YIQ's I and Q) at the output's size.
    assert np.abs(chroma(out["image"]) - chroma(content_at_output(content))).mean() < 2e-4
    # The served graph's convolutions run in the exported precision.
    conv_dtypes = {node.attr["T"].type for function in graph.as_graph_def().library.function
                   for node in function.node_def if node.op == "Conv2D"}
    assert {"float32": tf.float32, "mixed_bfloat16": tf.bfloat16}[
        precision].as_datatype_enum in conv_dtypes


def test_blended_styles_without_original_colors_serve_the_commands_image(pairs, vgg_weights):
    """--style_blend_weights: one input per style, blended as the library blends them; without
    --original_colors (nor a colour transfer) the result's chroma is not the content's. The
    signature function is called as the module exports it (the loaders are tested above)."""
    config = CONFIG.replace(original_colors=False, color_transfer="none",
                            style_blend_weights=(3.0, 1.0))
    stylize = export.ServingModule(config, LIMITS).stylize_tensors
    content, style = pairs[0]
    second = 255 - style  # the style's negative: other colours, the same size
    st = StyleTransfer(content, [style, second], config)
    st.step(config.num_steps)
    inputs = {k: tf.constant(v / 255.0, tf.float32)
              for k, v in [("content", content), ("style", style), ("style_2", second)]}
    got = stylize(**inputs)["image"].numpy()
    np.testing.assert_allclose(got, st.image, atol=TOLERANCE["float32"])
    # A hundred times what --original_colors leaves (tests above).
    assert np.abs(chroma(got) - chroma(content_at_output(content))).mean() > 1e-3
    with pytest.raises(tf.errors.InvalidArgumentError, match="style_2 image is too large"):
        stylize(**dict(inputs, style_2=tf.zeros([65, 64, 3])))


def test_exported_files_get_the_permissions_of_a_new_file(model_dir):
    # tempfile makes its directory 0700; a model server may run as another user.
    mask = os.umask(0o022)
    os.umask(mask)
    for folder, _, files in os.walk(model_dir):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o777 & ~mask, folder
        for name in files:
            path = os.path.join(folder, name)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~mask, path


def test_the_stopping_rule_ends_a_served_run_where_the_library_stops(pairs, vgg_weights):
    """--stop_tolerance in the graph: a tolerance every judged step meets stops both at step
    W + 1 = 21 (the first step judged); with 0 both run all 25 steps. (Adam: over 20 steps,
    L-BFGS's line search can take another branch on a rounding difference.)"""
    content, style = pairs[0]
    limits = export.Limits(max_steps=30, max_pixels=48 * 48)
    served = []
    for tolerance, steps in ((1e9, 21), (0.0, 25)):
        config = CONFIG.replace(scales=1, num_steps=25, style_ramp_steps=0, optimizer="adam",
                                stop_tolerance=tolerance)
        st = StyleTransfer(content, style, config)
        st.run()
        assert st.steps_done == steps and st.converged == (tolerance > 0)
        stylize = export.ServingModule(config, limits).stylize_tensors
        served.append(stylize(content=tf.constant(content / 255.0, tf.float32),
                              style=tf.constant(style / 255.0, tf.float32))["image"].numpy())
        # Over 21 steps graph and eager rounding drift apart by a little (most at a pixel near
        # the clip to [0, 1]); far less than the last four steps change.
        assert np.abs(served[-1] - st.image).mean() < 1e-5
        assert np.abs(served[-1] - st.image).max() < 1e-3
    assert np.abs(served[0] - served[1]).mean() > 1e-3
