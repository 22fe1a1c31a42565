"""The visual tools (python -m tf_nst.visualize) at 32 px and 2 steps: their errors and help run
as a user runs them, their figures in the test process; tf_nst.grid; the benchmark scripts in
tools/."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from tf_nst import grid
from tests import in_process
from tests.conftest import EXAMPLES, ROOT, load_tool

PAD, LABEL = 4, 14


def grid_size(cells, columns, cell_w, cell_h, labelled=True):
    rows = -(-cells // columns)
    return (PAD + columns * (cell_w + PAD),
            PAD + rows * (cell_h + (LABEL if labelled else 0) + PAD))


def test_make_grid_layout_and_labels():
    images = [np.full((10, 20, 3), v, np.float32) for v in (0.0, 0.5, 1.0)]
    out = grid.make_grid(images, ["a", "b", "c"], columns=2)
    assert out.size == grid_size(3, 2, 20, 10)
    pixels = np.asarray(out)
    assert pixels[PAD, PAD].tolist() == [0, 0, 0]                        # first cell
    assert pixels[PAD, PAD + 20 + PAD].tolist() == [128, 128, 128]       # second cell
    assert (pixels[PAD + 10: PAD + 10 + LABEL, PAD: PAD + 20] < 128).any()  # label text drawn
    assert grid.make_grid(images).size == grid_size(3, 3, 20, 10, labelled=False)
    with pytest.raises(ValueError):
        grid.make_grid([])


def test_colormap_runs_dark_to_bright():
    ramp = grid.colormap(np.linspace(0, 1, 5))
    assert ramp.shape == (5, 3) and ramp.dtype == np.uint8
    brightness = ramp.astype(int).sum(axis=1)
    assert np.all(np.diff(brightness) > 0)


def visualize(tool, *args, **kwargs):
    """``python -m tf_nst.visualize TOOL ARGS``, started (a Popen)."""
    return subprocess.Popen([sys.executable, "-m", "tf_nst.visualize", tool, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_tools_make_grids_of_the_right_size(tmp_path, vgg_weights):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(np.kron(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8),
                            np.ones((4, 4, 1), np.uint8))).save(tmp_path / "s.png")
    # Adam: of the two optimisers the quicker to build a step for; the grids are what is checked.
    transfer = [f"--content={tmp_path / 'c.png'}", f"--style={tmp_path / 's.png'}",
                "--image_size=32", "--num_steps=2", "--optimizer=adam"]
    runs = {
        "feature-maps": ([f"--image={tmp_path / 'c.png'}", "--image_size=32", "--channels=4",
                          "--columns=2"], grid_size(4, 2, 64, 64)),  # 32 px maps shown at 2x
        "gram": ([f"--image={tmp_path / 's.png'}", "--layers=conv1_1,conv2_1",
                  "--image_size=32", "--cell=40", "--overwrite"], grid_size(2, 2, 40, 40)),
        "sweep": (transfer + ["--ratios=1e-3,1e-1"], grid_size(4, 4, 32, 32)),
        # 5 rows x 2 ratios, after content, styles A and B and a blank cell
        "ablation": ([transfer[0], f"--style={tmp_path / 's.png'},{tmp_path / 'c.png'}",
                      *transfer[2:], "--ratios=1e-2,1"], grid_size(14, 2, 32, 32)),
        "creative": ([transfer[0], f"--style={tmp_path / 's.png'},{tmp_path / 'c.png'}",
                      *transfer[2:]], grid_size(9, 3, 32, 32)),  # 3 inputs + 6 results
    }
    (tmp_path / "gram.jpg").write_bytes(b"old")  # replaced: --overwrite
    # In this process, one after another: the runs share one network (the entry point as a
    # process is tested below).
    for tool, (args, _) in runs.items():
        done = in_process.visualize(tool, *args, f"--output={tmp_path / tool}.jpg")
        err = done.stderr
        assert done.returncode == 0, f"{tool}: {err}"
        wrote = f"tf_nst.visualize {tool}: wrote {tmp_path / tool}.jpg"
        assert err.strip().splitlines()[-1] == wrote
        assert sorted(p.name for p in tmp_path.glob(f"{tool}*")) == [f"{tool}.jpg"]
        assert not list(tmp_path.glob(f".{tool}*"))  # no temporary file left
        out = Image.open(tmp_path / f"{tool}.jpg")
        assert out.size == runs[tool][1], tool
        first_cell = np.asarray(out)[PAD:PAD + 32, PAD:PAD + 32].astype(int)
        assert first_cell.std() > 5, tool  # an image, not the background


def test_tool_errors_are_one_line_with_status_2(tmp_path):
    missing = visualize("gram", f"--image={tmp_path / 'missing.png'}",
                        f"--output={tmp_path / 'g.jpg'}")
    # An existing figure is kept (refused before anything is computed) unless --overwrite.
    (tmp_path / "kept.jpg").write_bytes(b"precious")
    kept = visualize("ablation", f"--content={tmp_path / 'missing.png'}",
                     f"--style={tmp_path / 'm.png'}", f"--output={tmp_path / 'kept.jpg'}")
    # Flag errors are answered by the parser: one line, before TensorFlow loads.
    inputs = ["--content=c.png", "--style=s.png", "--output=o.jpg"]
    bad = [(visualize(tool, *args), message) for tool, args, message in (
        ("sweep", [*inputs, "--ratios=1e-3,0"], "--ratios: '1e-3,0': expected positive"),
        ("ablation", [*inputs, "--ratios=a"], "--ratios: 'a': expected positive"),
        ("gram", [], "the following arguments are required: --image, --output"),
        ("collage", [], "argument SUBCOMMAND: invalid choice: 'collage'"))]
    for proc, tool, message in (
            (missing, "gram", f"{tmp_path / 'missing.png'}"),
            (kept, "ablation", f"{tmp_path / 'kept.jpg'}: file exists; pass --overwrite to "
                               "replace it")):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err
        (line,) = err.strip().splitlines()  # no traceback, no TensorFlow start-up log
        assert line.startswith(f"tf_nst.visualize {tool}: error: ") and message in line, err
    assert not (tmp_path / "g.jpg").exists()
    assert (tmp_path / "kept.jpg").read_bytes() == b"precious"
    for proc, message in bad:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
        assert message in err, err


@pytest.mark.parametrize("tool", ["feature-maps", "gram", "sweep", "ablation", "creative"])
def test_each_subcommand_has_help(tool):
    done = visualize(tool, "--help")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0 and err == ""
    assert out.startswith(f"usage: tf_nst.visualize {tool} ") and "--overwrite" in out


def test_the_wheel_ships_the_visual_tools_and_the_licence(tmp_path):
    """Built from a copy of the checkout (building in it would write into it) and run from the
    wheel itself, with no checkout around it."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "__pycache__", "*.egg-info", "build", "dist", "docs", "notebooks", "tests"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--no-build-isolation", "--wheel-dir", str(tmp_path), str(source)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("tf_nst-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        files = {name.rsplit("/", 1)[-1]: name for name in names if ".dist-info/" in name}
        licence = archive.read(files["LICENSE"]).decode()
        notice = archive.read(files["NOTICE"]).decode()
        metadata = archive.read(files["METADATA"]).decode()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert "Stefan van der Walt" in notice and "NASA, ESA" in notice
    assert "License-File: LICENSE" in metadata and "License-File: NOTICE" in metadata
    examples = {n.rsplit("/", 1)[-1] for n in names if ".data/data/share/tf-nst/examples/" in n}
    assert examples == {"content.png", "style.jpg", "README.md"}  # with their credits
    from_wheel = dict(capture_output=True, text=True, timeout=120, cwd=tmp_path,
                      env={**os.environ, "PYTHONPATH": str(wheel)})
    run = subprocess.run([sys.executable, "-m", "tf_nst.visualize", "sweep", "--help"],
                         **from_wheel)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: tf_nst.visualize sweep ") and "--ratios" in run.stdout
    where = subprocess.run([sys.executable, "-c", "import tf_nst; print(tf_nst.__file__)"],
                           **from_wheel)
    assert where.stdout.startswith(str(wheel)), where.stdout + where.stderr


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory, vgg_weights):
    """``{name: (json, process)}``: tools/benchmark.py's two runs tested here, started together:
    ``tflite`` (TFLite beside TensorFlow) and ``quality`` (time to quality, a bfloat16 route
    against the paper's)."""
    folder = tmp_path_factory.mktemp("bench")
    route = folder / "bf16.cfg"
    route.write_text("--precision=mixed_bfloat16\n--num_steps=12\n--lbfgs_history=3\n")
    runs = {"tflite": ["--quick", "--sizes", "--tflite=32", "--steps=1"],
            "quality": ["--sizes", "--memory_sizes", "--tflite=0", "--no_torch", "--quality",
                        "--quality_size=32", "--quality_steps=8", "--judge_stride=3",
                        "--routes", str(route), "--quality_images", str(EXAMPLES / "content.png"),
                        str(EXAMPLES / "style.jpg")]}
    started = {name: (folder / f"{name}.json", subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "benchmark.py"), *args,
         f"--json={folder / name}.json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)) for name, args in runs.items()}
    yield started
    for _, proc in started.values():  # a run whose test did not wait for it
        proc.kill()
        proc.communicate()


def benchmark_output(benchmarks, name):
    """``(json path, standard output)`` of benchmark run ``name``, once it has ended well."""
    out, proc = benchmarks[name]
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-2000:]
    return out, stdout


def test_benchmark_times_the_tflite_model_beside_tensorflow(benchmarks):
    out, stdout = benchmark_output(benchmarks, "tflite")
    assert "TFLite vs TensorFlow, 32 px, lbfgs" in stdout
    rows = json.loads(out.read_text())["tflite"]["rows"]
    assert [(r["runtime"], r["weights"]) for r in rows] == [
        ("ai_edge_litert", "float32"), ("tf.lite", "float32"), ("ai_edge_litert", "float16"),
        ("TensorFlow (tf-nst)", "float32")]
    reference = rows[-1]["total_loss"]
    for r in rows:
        assert r["s_per_step"] > 0, r
        assert r["total_loss"] == pytest.approx(reference, rel=1e-2 if r["weights"] == "float16"
                                                else 1e-4), r
        assert f"| {r['runtime']} | {r['weights']} | {r['s_per_step']:.3f} |" in stdout


def test_benchmark_sets_the_pytorch_peer_beside_our_figures():
    import importlib.util
    bench = load_tool("benchmark")
    rows = [dict(size=256, precision="float32", s_per_step=0.8),
            dict(size=256, precision="mixed_bfloat16", s_per_step=1.0),
            dict(size=512, precision="float32", s_per_step=3.2)]
    peer = dict(torch="2.0", rows=[dict(size=256, s_per_step=0.6),
                                   dict(size=512, s_per_step=3.2)])
    assert bench.peer_lines(rows, peer) == [
        "256 px float32: tf-nst 0.800 s/step (L-BFGS) vs PyTorch 2.0 0.600 s/step (Adam), "
        "median; PyTorch / tf-nst = 0.75",
        "512 px float32: tf-nst 3.200 s/step (L-BFGS) vs PyTorch 2.0 3.200 s/step (Adam), "
        "median; PyTorch / tf-nst = 1.00"]
    assert bench.peer_lines(rows, dict(error="PyTorch is not installed")) == [
        "PyTorch peer: PyTorch is not installed"]
    if importlib.util.find_spec("torch") is None:  # CI: a clear note, no traceback
        assert bench.run_torch_peer([32], 1) == dict(
            error="PyTorch is not installed (pip install torch to compare)")
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "benchmark_torch.py")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1
        assert done.stderr.strip() == ("benchmark_torch: PyTorch is not installed "
                                       "(pip install torch)")
    else:
        result = bench.run_torch_peer([32], 1)
        assert [r["size"] for r in result["rows"]] == [32] and result["rows"][0]["s_per_step"] > 0


def test_benchmark_finds_the_first_step_that_reaches_the_loss_with_few_judgements():
    bench = load_tool("benchmark")
    losses = [100.0 - i for i in range(60)]  # judged loss after each step: falls by 1 per step
    judged = []

    def loss_at(i):
        judged.append(i)
        return losses[i]

    coarse, first = bench._first_reaching(loss_at, len(losses), 58.5, stride=10)
    assert first == 42  # 100 - 42 = 58 is the first loss <= 58.5
    assert [i for i, _ in coarse] == [9, 19, 29, 39, 49, 59]
    assert len(set(judged)) <= len(coarse) + 4  # a bisection of one interval, not every step
    assert bench._first_reaching(loss_at, len(losses), 10.0, stride=10)[1] is None
    assert bench._first_reaching(loss_at, len(losses), 1e9, stride=10)[1] == 0
    assert bench._first_reaching(loss_at, 1, 100.0, stride=10) == ([(0, 100.0)], 0)


def test_benchmark_live_judge_keeps_few_images_and_finds_the_same_step():
    bench = load_tool("benchmark")
    losses = [100.0 - i for i in range(60)]
    live = bench._LiveJudge(lambda image: losses[image], 58.5, stride=10)
    most_kept = 0
    for i in range(60):
        live.add(i, i)  # the "image" of step i is its index
        most_kept = max(most_kept, len(live.kept) + len(live.interval))
    assert most_kept <= 10 + 1  # one stride of images (and the newest), not all 60
    coarse, first = bench._first_reaching(live.loss_at, 60, 58.5, stride=10)
    assert first == 42 and [i for i, _ in coarse] == [9, 19, 29, 39, 49, 59]
    assert live.paused >= 0.0
    # Never reached: the last image is still there to be judged.
    unreached = bench._LiveJudge(lambda image: losses[image], 10.0, stride=10)
    for i in range(55):
        unreached.add(i, i)
    assert bench._first_reaching(unreached.loss_at, 55, 10.0, stride=10) == (
        [(i, losses[i]) for i in (9, 19, 29, 39, 49, 54)], None)


def test_benchmark_time_to_quality_judges_every_route_in_float32(benchmarks):
    out, stdout = benchmark_output(benchmarks, "quality")
    paper, mixed = json.loads(out.read_text())["quality"]
    assert "| gatys2016 (single scale, float32) | 8 | 32 | float32 |" in stdout
    assert 0 < paper["work_to_paper_loss"] <= 8 and paper["loss"] > 0  # its own end reached
    assert mixed["precision"] == "mixed_bfloat16" and mixed["steps"] == 12
    # The judge is the paper's float32 objective: the trajectory's losses are of the same scale
    # and fall along the run (judged after steps 3, 6, 9, 12).
    losses = [loss for _, loss, _ in mixed["trajectory"]]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert mixed["loss"] == pytest.approx(losses[-1])
