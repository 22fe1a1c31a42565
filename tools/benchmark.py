#!/usr/bin/env python
"""Speed of tf-nst on this machine, against this machine's own dense-matmul throughput.

    python tools/benchmark.py --quick        # < 5 min: 256 and 512 px, float32 and bfloat16
    python tools/benchmark.py                # + 1024 px, peak memory, time to a finished image
    python tools/benchmark.py --sizes --no_quality --memory_sizes 1024 2048 4096/1024/0.5
    python tools/benchmark.py --quick --sizes --tflite 128   # only TFLite vs TF at 128 px
    python tools/benchmark.py --sizes --memory_sizes --tflite 0 --no_quality --hires 1024 2048
                                             # --preset=hires: time and look (benchmark_hires.py)
    python tools/benchmark.py --sizes --memory_sizes --tflite 0 --no_quality --stopping 256 512
                                             # where --stop_tolerance ends runs (stopping.py)

Images per minute of batch mode (batch sizes 1, 2, 4 at 256 px): tools/benchmark_batch.py.

Each (size, precision) runs in a fresh subprocess, so its peak RSS and its time from process start
to the first step are its own. One step = loss + gradient + L-BFGS update, the paper's setting
(content conv4_2, style conv1_1..conv5_1) on a square image. ``--memory_sizes`` measure only the
peak RSS, each in its own process too (the peak is a high-water mark): ``SIZE`` runs 2 steps on the
whole image, ``SIZE/TILE`` builds a run with ``--tile_size=TILE`` and runs 2 steps of its first
tile (every tile has the same shape, so one tile's peak is the run's); ``SIZE/TILE/S`` also sets
``--style_scale=S`` (the style image's forward pass is not tiled). FLOPs are counted by hand
(tf_nst/flops.py: forward convolutions, input-gradient convolutions, Gram matrices and their
gradient; no filter gradients); the matmul reference is tf.linalg.matmul of two square matrices
in the step's compute dtype, timed in the same subprocess just before and after the steps. Both
are best-of-N: on a shared machine the least-disturbed run is the one that measures the code.

The exported on-device model (tf-nst-export --format=tflite) is timed beside TensorFlow's step at
the same size and config (--tflite SIZE: 128 px in --quick, 256 px otherwise, 0 to skip), in
ai-edge-litert and tf.lite.Interpreter, with its losses after the same steps compared to TF's.

A peer: when PyTorch is installed (it is not a dependency), the same step written the usual
PyTorch way (tools/benchmark_torch.py: VGG19 to conv5_1, same losses, Adam) is timed in its own
process at the same sizes, and its s/step printed beside ours (--no_torch to skip).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("TF_NST_SHARED_IMAGES", os.path.join(ROOT, "..", "shared", "images"))
sys.path.insert(0, ROOT)  # this checkout's tf_nst, not an installed one


# --------------------------------------------------------------------------------------------------
# Worker: one size and precision in this process.
# --------------------------------------------------------------------------------------------------
def _matmul_gflops(dtype_name: str, n: int, repeats: int) -> float:
    import tensorflow as tf

    dtype = {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}[dtype_name]
    a = tf.cast(tf.random.stateless_normal([n, n], seed=[1, 2]), dtype)
    b = tf.cast(tf.random.stateless_normal([n, n], seed=[3, 4]), dtype)
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.linalg.matmul(a, b)[0], tf.float32)))
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def _random_pair(size: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return (rng.random((size, size, 3), dtype=np.float32),
            rng.random((size, size, 3), dtype=np.float32))


def worker(args: argparse.Namespace) -> None:
    import numpy as np

    from tf_nst import Config, StyleTransfer
    from tf_nst.flops import step_flops
    from tf_nst.resources import peak_resident_bytes

    spawned = args.spawned_at
    content, style = _random_pair(args.size)
    config = Config(image_size=args.size, precision=args.precision, num_steps=args.steps + 1,
                    jit_compile=args.jit_compile)
    st = StyleTransfer(content, style, config)
    start = time.perf_counter()
    st.step(1)
    first = time.perf_counter() - start
    to_first_step = time.time() - spawned
    compute = {"float32": "float32", "mixed_bfloat16": "bfloat16",
               "mixed_float16": "float16"}[args.precision]
    peaks = [_matmul_gflops(compute, args.matmul_n, 2)]
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        st.step(1)
        times.append(time.perf_counter() - start)
    peaks.append(_matmul_gflops(compute, args.matmul_n, 2))
    flops = step_flops(args.size, args.size, config.content_layers, config.style_layers).total
    best, median = min(times), float(np.median(times))
    result = dict(
        size=args.size, precision=args.precision, steps=args.steps,
        s_per_step=median, best_s_per_step=best, gflop_per_step=flops / 1e9,
        gflops=flops / best / 1e9, matmul_gflops=max(peaks),
        fraction=flops / best / 1e9 / max(peaks), first_step_s=first,
        trace_s=first - median, start_to_first_step_s=to_first_step,
        peak_rss_mb=peak_resident_bytes() / 2**20,
        finite=bool(np.isfinite(st.losses["total"])))
    print("RESULT " + json.dumps(result), flush=True)


def memory_worker(args: argparse.Namespace) -> None:
    """Peak RSS of 2 steps at ``args.size`` px (of the first tile, if ``args.tile`` is set)."""
    from tf_nst import Config, StyleTransfer, resources

    content, style = _random_pair(args.size)
    config = Config(image_size=args.size, tile_size=args.tile, style_scale=args.style_scale,
                    tile_overlap=min(Config.tile_overlap, args.tile // 4), num_steps=2,
                    precision="float32")  # the larger of the two: activations at 4 bytes
    start = time.perf_counter()
    st = StyleTransfer(content, style, config)
    for _ in range(2):
        if st.tiles is None:
            st.step(1)
        else:
            st.losses = st.tiles.step(st.checked_step, st.weights)
    style_side = round(args.size * args.style_scale)
    estimate = resources.estimate(config, args.size, args.size, style_side, style_side).total
    result = dict(size=args.size, tile=args.tile, style_scale=args.style_scale,
                  tiles=len(st.tiles.boxes) if st.tiles is not None else 1,
                  seconds=time.perf_counter() - start, estimate_mb=estimate / 2**20,
                  peak_rss_mb=resources.peak_resident_bytes() / 2**20)
    print("RESULT " + json.dumps(result), flush=True)


def _median_step_s(step, steps: int) -> tuple[float, float]:
    """(first call s, median s of the next ``steps`` calls) of ``step()`` (one step each)."""
    import numpy as np

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def tflite_worker(args: argparse.Namespace) -> None:
    """The TFLite model of the benchmark's config at ``args.size`` against TF's step: seconds per
    step in each runtime, and the losses after the same steps (also with float16 weights)."""
    import numpy as np
    import tensorflow as tf

    from tf_nst import Config, StyleTransfer, export
    from tf_nst.builder import extractor_for

    config = Config(image_size=args.size, optimizer=args.tflite_optimizer, precision="float32")
    start = time.perf_counter()
    model = export.convert_tflite(config)
    convert_s = time.perf_counter() - start
    half = export.weights_to_float16(model, [v.numpy() for v in extractor_for(config).variables])
    st = StyleTransfer(*_random_pair(args.size), config)
    content, style = st.content.numpy(), st.style.numpy()
    rows = []

    def lite_row(runtime: str, data: bytes, weights: str) -> dict:
        if runtime == "ai_edge_litert":
            from ai_edge_litert.interpreter import Interpreter
        else:
            Interpreter = tf.lite.Interpreter
        interpreter = Interpreter(model_content=data, num_threads=os.cpu_count())
        interpreter.get_signature_runner("set_images")(content=content, style=style)
        run = interpreter.get_signature_runner("run")
        one = np.array(1, np.int32)
        outs = []
        first, median = _median_step_s(lambda: outs.append(run(num_steps=one)), args.steps)
        return dict(runtime=runtime, weights=weights, first_step_s=first, s_per_step=median,
                    model_mb=len(data) / 1e6, total_loss=float(outs[-1]["total_loss"]))

    for runtime in ("ai_edge_litert", "tf.lite"):
        try:
            rows.append(lite_row(runtime, model, "float32"))
        except ImportError as err:
            rows.append(dict(runtime=runtime, weights="float32", error=str(err)[:100]))
    rows.append(lite_row("ai_edge_litert", half, "float16"))
    first, median = _median_step_s(lambda: st.step(1), args.steps)
    image = tf.constant(st.image[None])  # the loss of the image (not of a line-search trial)
    rows.append(dict(runtime="TensorFlow (tf-nst)", weights="float32", first_step_s=first,
                     s_per_step=median, model_mb=None,
                     total_loss=float(st.objective.loss_terms(image, st.targets,
                                                              st.weights)["total"][0])))
    print("RESULT " + json.dumps(dict(size=args.size, optimizer=config.optimizer,
                                      steps=args.steps, convert_s=convert_s, rows=rows)),
          flush=True)


def run_memory_worker(spec: str) -> dict:
    """``spec`` is ``SIZE``, ``SIZE/TILE`` or ``SIZE/TILE/STYLE_SCALE``."""
    size, tile, style_scale = (spec.split("/") + ["0", "1"])[:3]
    return _spawn(["--memory_worker", f"--size={size}", f"--tile={tile}",
                   f"--style_scale={style_scale}"],
                  dict(size=int(size), tile=int(tile), style_scale=float(style_scale)))


def _spawn(worker_args: list[str], describe: dict, script: str = os.path.abspath(__file__)
           ) -> dict:
    """Run ``script`` (this one) with ``worker_args`` in a fresh process; its RESULT line, or an
    error. The caller's PYTHONPATH is kept, after this checkout."""
    cmd = [sys.executable, script] + worker_args
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    if proc.returncode < 0:  # no traceback to show: e.g. the kernel's OOM killer (SIGKILL)
        name = signal.Signals(-proc.returncode).name
        return dict(describe, error=f"killed by {name}"
                    + (" (out of memory?)" if name == "SIGKILL" else ""))
    tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
    return dict(describe, error=tail[:100])


def run_worker(size: int, precision: str, steps: int, matmul_n: int, jit: bool) -> dict:
    return _spawn(["--worker", f"--size={size}", f"--precision={precision}", f"--steps={steps}",
                   f"--matmul_n={matmul_n}", f"--spawned_at={time.time()!r}"]
                  + (["--jit_compile"] if jit else []), dict(size=size, precision=precision))


def run_torch_peer(sizes: list[int], steps: int) -> dict:
    """The same step written the usual PyTorch way (``tools/benchmark_torch.py``), timed in a fresh
    process of this run; ``{"error": ...}`` when PyTorch is not installed."""
    if importlib.util.find_spec("torch") is None:
        return dict(error="PyTorch is not installed (pip install torch to compare)")
    return _spawn(["--result", f"--steps={steps}", "--sizes", *map(str, sizes)], {},
                  script=os.path.join(ROOT, "tools", "benchmark_torch.py"))


def peer_lines(rows: list[dict], peer: dict) -> list[str]:
    """One line per size: our float32 s/step beside PyTorch's, measured in the same run."""
    if "error" in peer:
        return [f"PyTorch peer: {peer['error']}"]
    ours = {r["size"]: r for r in rows if r.get("precision") == "float32" and "error" not in r}
    lines = []
    for p in peer["rows"]:
        mine = ours.get(p["size"])
        if mine is None:
            continue
        lines.append(f"{p['size']} px float32: tf-nst {mine['s_per_step']:.3f} s/step (L-BFGS) vs "
                     f"PyTorch {peer['torch']} {p['s_per_step']:.3f} s/step (Adam), median; "
                     f"PyTorch / tf-nst = {p['s_per_step'] / mine['s_per_step']:.2f}")
    return lines


def run_tflite_worker(size: int, steps: int, optimizer: str) -> dict:
    return _spawn(["--tflite_worker", f"--size={size}", f"--steps={steps}",
                   f"--tflite_optimizer={optimizer}"], dict(size=size, rows=[]))


# --------------------------------------------------------------------------------------------------
# Time to a finished image.
# --------------------------------------------------------------------------------------------------
def _first_reaching(loss_at, count: int, target: float, stride: int) -> tuple[list, int | None]:
    """Judge snapshots ``0 .. count-1`` (``loss_at(i)``): every ``stride``-th and the last, then
    bisect the first interval that reaches ``target`` (the judged loss falls along a run, as the
    optimiser accepts only decreases). Returns ``([(i, loss)...] coarse, first index or None)``."""
    coarse = [(i, loss_at(i)) for i in sorted(set(range(stride - 1, count, stride)) | {count - 1})]
    hit = next((k for k, (_, loss) in enumerate(coarse) if loss <= target), None)
    if hit is None:
        return coarse, None
    lo, hi = (coarse[hit - 1][0] if hit else -1), coarse[hit][0]  # loss(lo) > target >= loss(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if loss_at(mid) <= target else (mid, hi)
    return coarse, hi


class _LiveJudge:
    """Judges a route's images as they come, for :func:`_first_reaching` afterwards, keeping as
    few as it can: every ``stride``-th image is judged at once (the time it takes is counted in
    ``paused``, which the caller takes off its clock); the images after the last judged one are
    kept until one reaches ``target`` (the bisection looks among them), and after that only the
    newest (the last index is always judged). At most ``stride`` images are kept at a time."""

    def __init__(self, loss_of, target: float | None, stride: int) -> None:
        self.loss_of, self.target, self.stride = loss_of, target, stride
        self.losses: dict[int, float] = {}
        self.kept: dict[int, object] = {}
        self.interval: dict[int, object] = {}  # the images the bisection looks among
        self.reached = False
        self.paused = 0.0

    def add(self, index: int, image) -> None:
        if self.reached:
            self.kept.clear()
        self.kept[index] = image
        if index % self.stride == self.stride - 1:
            began = time.perf_counter()
            loss = self.losses[index] = self.loss_of(image)
            self.paused += time.perf_counter() - began
            if not self.reached and loss <= self.target:
                self.reached = True
                self.interval, self.kept = self.kept, {}
            elif not self.reached:
                self.kept.clear()

    def loss_at(self, index: int) -> float:
        if index not in self.losses:
            self.losses[index] = self.loss_of({**self.interval, **self.kept}[index])
        return self.losses[index]


def quality(args: argparse.Namespace) -> list[dict]:
    """The paper preset single scale vs other routes: time and work until the image reaches the
    paper route's final loss, every image judged by the SAME float32 objective at the final size
    (also those of mixed-precision routes, whose own loss comes from a bfloat16/float16 network)."""
    import tensorflow as tf

    from tf_nst import Config, StyleTransfer, presets
    from tf_nst.flags import config_from_flagfile
    from tf_nst.objective import LossWeights, Objective
    from tf_nst.builder import extractor_for

    content, style = args.quality_images
    paper = presets.load("gatys2016", image_size=args.size, num_steps=args.quality_steps)
    judge = StyleTransfer(content, style, paper, num_steps=0)  # float32 targets at full size
    objective = Objective.from_config(extractor_for(paper), paper)
    weights = LossWeights.from_config(paper)
    judged = tf.function(lambda image: {k: v[0] for k, v in objective.loss_terms(
        image, judge.targets, weights).items() if k in ("total", "content", "style")})

    def loss_of(image) -> float:
        return float(judged(tf.constant(image[None]))["total"])

    routes = [("gatys2016 (single scale, float32)", paper)]
    for name in args.routes:
        if name == "defaults":  # what tf-nst runs with no flagfile
            routes.append((name, Config(image_size=args.size)))
            continue
        path = name if os.path.isfile(name) else presets.path(name)
        routes.append((name, config_from_flagfile(path, image_size=args.size)))
    rows = []
    for name, config in routes:
        # The paper route runs first: its images are all kept (the other routes' final losses
        # are looked up on its curve afterwards). The other routes' images are judged as they
        # come (every judge_stride-th, off the clock) against the paper route's final loss, so
        # only those since the last judged one are kept until the first reaching it is known.
        live = _LiveJudge(loss_of, rows[0]["loss"], args.judge_stride) if rows else None

        def judging() -> float:  # seconds spent judging this route so far, off its clock
            return live.paused if live else 0.0

        start = time.perf_counter()
        st = StyleTransfer(content, style, config)
        # After each step at the final size: (seconds, work so far) and the image. Work counts
        # steps in full-size equivalents (a step costs in proportion to its pixels), so it
        # compares routes independently of the machine's load.
        coarse = list(zip(config.scale_sizes[:-1], config.scale_steps[:-1]))
        coarse_work = sum(n * (side / config.image_size) ** 2 for side, n in coarse)
        coarse_steps = sum(config.scale_steps[:-1])
        clock, snapshots = [], []

        def record(s: StyleTransfer) -> None:
            if s.scale == len(s.sizes) - 1 and s.steps_done > coarse_steps:
                work = coarse_work + s.steps_done - coarse_steps
                clock.append((time.perf_counter() - start - judging(), work))
                if live:
                    live.add(len(clock) - 1, s.raw_image)
                else:
                    snapshots.append(s.raw_image)

        st.run(callback=record)
        elapsed = time.perf_counter() - start - judging()
        final = {k: float(v) for k, v in judged(tf.constant(st.raw_image[None])).items()}
        rows.append(dict(route=name, steps=config.num_steps, scales=config.scale_sizes,
                         precision=config.compute_precision, seconds=elapsed,
                         loss=final["total"], content=final["content"], style=final["style"],
                         clock=clock, snapshots=snapshots, live=live))
        print(f"  {name}: {elapsed:.1f} s, loss {rows[-1]['loss']:.4g}", file=sys.stderr,
              flush=True)
    def judged_loss(snapshots: list):  # loss of snapshot i, each judged at most once
        losses = {}
        return lambda i: losses[i] if i in losses else losses.setdefault(i, loss_of(snapshots[i]))

    target, paper_clock = rows[0]["loss"], rows[0]["clock"]
    paper_loss_at = judged_loss(rows[0]["snapshots"])
    for r in rows:
        snapshots, clock, live = r.pop("snapshots"), r.pop("clock"), r.pop("live")
        loss_at = paper_loss_at if r is rows[0] else live.loss_at
        # When this route's image first reached the paper route's final loss ...
        coarse, first = _first_reaching(loss_at, len(clock), target, args.judge_stride)
        r["trajectory"] = [(clock[i][0], loss, clock[i][1]) for i, loss in coarse]
        r["seconds_to_paper_loss"] = None if first is None else clock[first][0]
        r["work_to_paper_loss"] = None if first is None else clock[first][1]
        # ... and, the other way round, when the paper route reached this route's final loss.
        _, back = _first_reaching(paper_loss_at, len(paper_clock), r["loss"], args.judge_stride)
        r["paper_seconds_to_this_loss"] = None if back is None else paper_clock[back][0]
        r["paper_work_to_this_loss"] = None if back is None else paper_clock[back][1]
    return rows


# --------------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------------
def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from tf_nst.hardware import BFLOAT16_CPU_FLAGS, cpu_flags  # no TensorFlow import

    native = sorted(cpu_flags() & BFLOAT16_CPU_FLAGS)
    return (f"{model}, {os.cpu_count()} logical CPUs, native bfloat16: "
            f"{', '.join(native) if native else 'no (--precision=auto means float32 on CPU)'}")


def table(rows: list[dict]) -> str:
    head = ("| size | precision | s/step (median) | GFLOP/step | GFLOP/s (best) | matmul GFLOP/s | "
            "fraction of matmul | first step s (tracing s) | start→first step s | peak RSS MB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']} | {r['precision']} | error: {r['error']} |")
            continue
        lines.append(
            f"| {r['size']} | {r['precision']} | {r['s_per_step']:.3f} | {r['gflop_per_step']:.0f} "
            f"| {r['gflops']:.0f} | {r['matmul_gflops']:.0f} | {r['fraction']:.2f} | "
            f"{r['first_step_s']:.1f} ({r['trace_s']:.1f}) | {r['start_to_first_step_s']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def memory_table(rows: list[dict]) -> str:
    lines = ["| size | tile | style_scale | tiles | peak RSS MB | estimate MB | s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        tile = r["tile"] or "none"
        if "error" in r:
            lines.append(f"| {r['size']} | {tile} | {r['style_scale']:g} | error: {r['error']} |")
            continue
        lines.append(f"| {r['size']} | {tile} | {r['style_scale']:g} | {r['tiles']} | "
                     f"{r['peak_rss_mb']:.0f} | {r['estimate_mb']:.0f} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def tflite_table(result: dict) -> str:
    if "error" in result:
        return f"TFLite at {result['size']} px: error: {result['error']}"
    reference = result["rows"][-1]
    lines = [f"TFLite vs TensorFlow, {result['size']} px, {result['optimizer']}, paper layers "
             f"(converted in {result['convert_s']:.0f} s); total loss after "
             f"{result['steps'] + 1} steps:",
             "| runtime | weights | s/step (median) | first step s | model MB | total loss | "
             "vs TensorFlow |", "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['runtime']} | {r['weights']} | error: {r['error']} |")
            continue
        diff = r["total_loss"] / reference["total_loss"] - 1.0
        size = "–" if r["model_mb"] is None else f"{r['model_mb']:.1f}"
        lines.append(f"| {r['runtime']} | {r['weights']} | {r['s_per_step']:.3f} | "
                     f"{r['first_step_s']:.2f} | {size} | {r['total_loss']:.5g} | "
                     f"{diff:+.1e} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256/512 px, 3 steps, no quality run")
    parser.add_argument("--sizes", type=int, nargs="*",
                        help="override the sizes (--sizes with no value: none)")
    parser.add_argument("--precisions", nargs="*", help="override the precisions")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per size")
    parser.add_argument("--matmul_n", type=int, default=2048, help="matmul reference size")
    parser.add_argument("--jit_compile", action="store_true", help="XLA (slower on CPUs)")
    parser.add_argument("--memory_sizes", nargs="*", default=None,
                        help="peak RSS of 2 float32 steps at SIZE, or of the first tile at "
                        "SIZE/TILE (--tile_size=TILE), or SIZE/TILE/STYLE_SCALE; full mode: "
                        "1024 2048 4096/1024/0.5")
    parser.add_argument("--quality", dest="quality", action="store_true", default=None)
    parser.add_argument("--no_quality", dest="quality", action="store_false")
    parser.add_argument("--quality_size", type=int, default=512)
    parser.add_argument("--quality_steps", type=int, default=500)
    parser.add_argument("--quality_images", nargs=2, metavar=("CONTENT", "STYLE"),
                        default=[os.path.join(SHARED, n)
                                 for n in ("tubingen.jpg", "starry_night.jpg")],
                        help="the race's content and style (default: tubingen + starry_night)")
    parser.add_argument("--judge_stride", type=int, default=25,
                        help="judge every N-th step's image in float32, then bisect to the step "
                             "that first reaches the paper's loss")
    parser.add_argument("--routes", nargs="*", default=["defaults", "gatys2016_fast.cfg"],
                        help="flagfiles (preset names, or paths; 'defaults' = no flagfile) "
                             "raced against gatys2016.cfg")
    parser.add_argument("--tflite", type=int, default=None, metavar="SIZE",
                        help="time the exported TFLite model beside TF at SIZE px "
                             "(default: 128 with --quick, else 256; 0: skip)")
    parser.add_argument("--tflite_optimizer", default="lbfgs", choices=("lbfgs", "adam"))
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--no_torch", dest="torch", action="store_false",
                        help="skip the PyTorch peer (run by default when PyTorch is installed)")
    parser.add_argument("--hires", type=int, nargs="*", default=[], metavar="SIZE",
                        help="time tf-nst --preset=hires at these sizes against the 512 px "
                             "default run, and score it against single scale at --hires_compare "
                             "(tools/benchmark_hires.py)")
    parser.add_argument("--hires_compare", type=int, default=1024, metavar="SIZE",
                        help="with --hires: the size of the single-scale comparison (0: none)")
    parser.add_argument("--hires_pairs", nargs="*", default=["examples",
                                                             "tubingen.jpg:starry_night.jpg"],
                        help="with --hires: CONTENT:STYLE pairs (paths or names in "
                             "../shared/images; 'examples' = the bundled pair, which is timed)")
    parser.add_argument("--hires_figure", help="with --hires: write the first pair's single "
                        "scale and hires outputs side by side here (jpg)")
    parser.add_argument("--stopping", type=int, nargs="*", default=[], metavar="SIZE",
                        help="the step where the stopping rule (--stop_tolerance) ends the "
                             "default run on each pair at these sizes, and the mean difference of "
                             "its image to the 500-step one (tools/stopping.py)")
    parser.add_argument("--cache_dir", help="with --hires: keep the outputs here (single-scale "
                        "outputs found there are used again); with --stopping: the recordings")
    # Worker-only.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory_worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tflite_worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tile", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--style_scale", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--spawned_at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker(args)
        return
    if args.memory_worker:
        memory_worker(args)
        return
    if args.tflite_worker:
        tflite_worker(args)
        return

    sizes = args.sizes if args.sizes is not None else (
        [256, 512] if args.quick else [256, 512, 1024])
    precisions = args.precisions or ["float32", "mixed_bfloat16"]
    steps = args.steps or (3 if args.quick else 5)
    memory_sizes = args.memory_sizes if args.memory_sizes is not None else (
        [] if args.quick else ["1024", "2048", "4096/1024/0.5"])
    do_quality = (not args.quick) if args.quality is None else args.quality
    tflite_size = args.tflite if args.tflite is not None else (128 if args.quick else 256)

    print(f"machine: {machine()}", flush=True)
    rows = []
    for size in sizes:
        for precision in precisions:
            rows.append(run_worker(size, precision, steps, args.matmul_n, args.jit_compile))
            print(f"  done {size} {precision}", file=sys.stderr, flush=True)
    memory = []
    for spec in memory_sizes:
        memory.append(run_memory_worker(spec))
        print(f"  done memory {spec}", file=sys.stderr, flush=True)
    if rows:
        print(table(rows))
    if memory:
        print("\nPeak memory (float32, L-BFGS, square image and style; SIZE/TILE = tiled):")
        print(memory_table(memory))
    peer = None
    float32_sizes = sorted({r["size"] for r in rows if r.get("precision") == "float32"})
    if args.torch and float32_sizes:
        peer = run_torch_peer(float32_sizes, steps)
        print("\n" + "\n".join(peer_lines(rows, peer)), flush=True)
    report = {"machine": machine(), "steps": rows, "memory": memory, "torch_peer": peer}
    if tflite_size:
        lite = run_tflite_worker(tflite_size, steps, args.tflite_optimizer)
        print("\n" + tflite_table(lite), flush=True)
        report["tflite"] = lite
    if do_quality:
        q = quality(argparse.Namespace(size=args.quality_size, quality_steps=args.quality_steps,
                                       routes=args.routes, judge_stride=args.judge_stride,
                                       quality_images=args.quality_images))
        base = q[0]
        names = " + ".join(os.path.splitext(os.path.basename(p))[0] for p in args.quality_images)
        print(f"\nTime to a finished image, {args.quality_size} px, {names}, loss "
              "= the paper's objective in float32 at full size:")
        print("(work = steps in full-size equivalents: a step at half the size counts 1/4)")
        print("| route | steps | scales | precision | wall s | final loss | loss / paper's | "
              "content, style / paper's | time / paper's | s to paper's loss | "
              "work to paper's loss (/ paper's) | paper's s to this loss |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")

        def maybe(value, fmt="{:.0f}"):
            return "not reached" if value is None else fmt.format(value)

        paper_work = base["trajectory"][-1][2] if base["trajectory"] else None
        for r in q:
            work = r["work_to_paper_loss"]
            work_text = maybe(work) + ("" if work is None or not paper_work
                                       else f" ({work / paper_work:.2f})")
            print(f"| {r['route']} | {r['steps']} | {','.join(map(str, r['scales']))} | "
                  f"{r['precision']} | {r['seconds']:.0f} | {r['loss']:.4g} | "
                  f"{r['loss'] / base['loss']:.3f} | {r['content'] / base['content']:.3f}, "
                  f"{r['style'] / base['style']:.3f} | {r['seconds'] / base['seconds']:.2f} | "
                  f"{maybe(r['seconds_to_paper_loss'])} | {work_text} | "
                  f"{maybe(r['paper_seconds_to_this_loss'])} |")
        report["quality"] = q
    if args.hires:
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import benchmark_hires

        report["hires"] = benchmark_hires.from_args(args, SHARED)
    if args.stopping:
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import stopping as stopping_tool  # tools/stopping.py

        print("\nWhere the stopping rule ends the default run (tools/stopping.py):")
        report["stopping"] = stopping_tool.main(
            ["--sizes", *map(str, args.stopping), "--images", SHARED]
            + (["--cache_dir", args.cache_dir] if args.cache_dir else []))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
