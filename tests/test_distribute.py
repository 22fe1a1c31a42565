"""tf.distribute: two logical CPUs equal one device; two worker processes equal one process; in
float32 and in mixed bfloat16 (where MultiWorkerMirroredStrategy's start-up broadcast of the
variables must carry no bfloat16: CPU collectives refuse it).

Both need a fresh process: logical devices and collective ops must be set up before TensorFlow
initialises its devices.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from tf_nst import Config
from tf_nst.batch import stylize_batch
from tf_nst.images import to_uint8
from tests.conftest import ROOT, precision_flags
from tests.test_batch import PRECISIONS, TOLERANCE

TIMEOUT = 300


def run_all(commands, envs, timeout=TIMEOUT):
    """Start the processes together; kill them all if any fails or time runs out."""
    procs = [subprocess.Popen(c, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) for c, e in zip(commands, envs)]
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
    except subprocess.TimeoutExpired:
        outputs = None
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    assert outputs is not None, f"timed out after {timeout} s"
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    return outputs


@pytest.fixture(scope="module")
def frames(tmp_path_factory, image_files):
    """Three content images of one size (one batch) and the style, as files."""
    folder = tmp_path_factory.mktemp("frames")
    photo = Image.open(image_files / "cat.png").convert("RGB").resize((64, 48))
    photo.save(folder / "a.png")
    photo.transpose(Image.FLIP_LEFT_RIGHT).save(folder / "b.png")
    photo.transpose(Image.FLIP_TOP_BOTTOM).save(folder / "c.png")
    return folder, image_files / "galaxies.jpg"


MIRRORED = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tf_nst import Config
    from tf_nst import builder
    from tf_nst.batch import stylize_batch
    from tf_nst.distribute import make_strategy
    folder, style, out = sys.argv[1:4]
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.extended.worker_devices
    contents = [f"{folder}/{n}.png" for n in "abc"]
    results = {}
    for precision in PRECISIONS:
        # Each replica computes with kernels it prepared on its own device, in the layer's dtype.
        stepper = builder.build(Config(image_size=32, precision=precision),
                                strategy=strategy).stepper
        kernels = strategy.experimental_local_results(
            stepper.kernels["block2_conv1"].gradient_kernel)
        assert [k.device for k in kernels] == [tf.DeviceSpec.from_string(d).to_string()
                                               for d in strategy.extended.worker_devices]
        assert {k.dtype.name for k in kernels} == {precision.replace("mixed_", "")}
        for optimizer in ("adam", "lbfgs"):
            config = Config(image_size=32, num_steps=3, optimizer=optimizer, noise_ratio=0.2,
                            precision=precision)
            results[f"{precision}/{optimizer}/two"] = np.stack(
                stylize_batch(contents, style, config, strategy=strategy))
            results[f"{precision}/{optimizer}/one"] = np.stack(stylize_batch(contents, style, config))
    # A blend of two styles (the second: a content frame) on two replicas too.
    styles = [style, contents[1]]
    config = Config(image_size=32, num_steps=3, optimizer="adam", style_blend_weights=(0.6, 0.4),
                    precision="float32")
    results["float32/blend/two"] = np.stack(stylize_batch(contents, styles, config, strategy=strategy))
    results["float32/blend/one"] = np.stack(stylize_batch(contents, styles, config))
    results["float32/blend/single-style"] = np.stack(stylize_batch(
        contents, style, config.replace(style_blend_weights=())))
    # The replicas' states checkpointed after 2 steps resume to the uninterrupted result.
    import tempfile
    from tf_nst import StyleTransfer
    from tf_nst.checkpoint import Checkpointer
    for precision in PRECISIONS:
        config = Config(image_size=32, num_steps=4, precision=precision)
        results[f"{precision}/whole"] = StyleTransfer(contents, style, config,
                                                      strategy=strategy).run()
        first = StyleTransfer(contents, style, config, strategy=strategy)
        first.step(2)
        saver = Checkpointer(tempfile.mkdtemp(), "run")
        saver.save(first.checkpoint_state(), 2)
        second = StyleTransfer(contents, style, config, strategy=strategy)
        restored = saver.restore(second.seek)
        second.restore_state(restored.state, restored.steps_done)
        results[f"{precision}/resumed"] = second.run()
    # Every replica's share passes the health check (content loss overflowing from step 2).
    from tf_nst.health import NumericalError
    try:
        stylize_batch(contents, style, Config(image_size=32, num_steps=3, optimizer="adam",
                                              content_weight=1e38, formulation="printed",
                                              precision="float32"), strategy=strategy)
        raise AssertionError("the overflow went unnoticed")
    except NumericalError as err:
        assert err.step == 2, err
    np.savez(out, **results)
""")


@pytest.fixture(scope="module")
def mirrored(frames, tmp_path_factory, vgg_weights):
    """Every precision's results on two logical CPUs and on one device, from one process."""
    folder, style = frames
    out = tmp_path_factory.mktemp("mirrored") / "results.npz"
    script = f"PRECISIONS = {PRECISIONS!r}\n{MIRRORED}"
    run_all([[sys.executable, "-c", script, str(folder), str(style), str(out)]],
            [dict(os.environ, PYTHONPATH=str(ROOT))])
    return dict(np.load(out))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_two_logical_devices_equal_one_device(mirrored, precision):
    cases = [("adam", "adam"), ("lbfgs", "lbfgs")]
    if precision == "float32":
        cases.append(("blend", "adam"))
    for case, optimizer in cases:
        two, one = mirrored[f"{precision}/{case}/two"], mirrored[f"{precision}/{case}/one"]
        assert two.shape == one.shape == (3, 24, 32, 3)
        difference = np.abs(two - one)
        assert difference.max() < TOLERANCE[precision][optimizer][0], case
        assert difference.mean() < TOLERANCE[precision][optimizer][1], case
    # Resumed from the replicas' checkpointed states: the same computation, the same result.
    np.testing.assert_array_equal(mirrored[f"{precision}/resumed"], mirrored[f"{precision}/whole"])
    if precision == "float32":
        blend = mirrored["float32/blend/one"]
        assert np.abs(blend - mirrored["float32/blend/single-style"]).mean() > 1e-3


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.parametrize("precision", PRECISIONS)
def test_two_worker_processes_on_localhost_equal_one_process(frames, tmp_path, vgg_weights,
                                                             precision):
    folder, style = frames
    out = tmp_path / "out"
    out.mkdir()
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    args = [sys.executable, "-m", "tf_nst", "--strategy=multi_worker", f"--content={folder}/*.png",
            f"--style={style}", f"--output={out}/", "--image_size=32", "--num_steps=3",
            "--optimizer=lbfgs", *precision_flags(precision)]
    envs = [dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})) for i in (0, 1)]
    outputs = run_all([args, args], envs)
    # Worker 0 optimised a and b, worker 1 c (and a padding copy it does not write).
    assert "wrote 2 images" in outputs[0][1] and "wrote 1 images" in outputs[1][1]
    assert f"lbfgs, {precision}" in outputs[0][1]  # by default where auto resolves to it
    assert sorted(os.listdir(out)) == ["a.png", "b.png", "c.png"]
    config = Config(image_size=32, num_steps=3, optimizer="lbfgs", precision=precision)
    alone = stylize_batch([str(folder / f"{n}.png") for n in "abc"], str(style), config)
    for name, expected in zip("abc", alone):
        written = np.asarray(Image.open(out / f"{name}.png"), np.int16)
        # Equal up to float rounding: at most one 8-bit level apart, and nearly everywhere equal.
        difference = np.abs(written - to_uint8(expected).astype(np.int16))
        assert difference.max() <= 1 and (difference > 0).mean() < 0.01, name


def test_bad_tf_config_is_one_line(frames, tmp_path):
    folder, style = frames
    result = subprocess.run(
        [sys.executable, "-m", "tf_nst", "--strategy=multi_worker", f"--content={folder}/a.png",
         f"--style={style}", f"--output={tmp_path}/", "--image_size=32", "--num_steps=1"],
        cwd=ROOT, env=dict(os.environ, TF_CONFIG="{not json"), capture_output=True, text=True,
        timeout=TIMEOUT)
    lines = [l for l in result.stderr.splitlines() if l.startswith("tf-nst")]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(lines) == 1 and "TF_CONFIG" in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []
