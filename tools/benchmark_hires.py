"""``tools/benchmark.py --hires 1024 2048``: --preset=hires against single-scale runs.

Every run is the ``tf-nst`` command in its own process, timed from its start to its end (wall
time). At the ``--hires_compare`` size each pair runs single scale (``--image_size=SIZE``, the
default 500 steps) and ``--preset=hires``; then, on the first pair, the reference, the 512 px
default run (``tf-nst --content=C --style=S``, 500 steps), and ``--preset=hires`` at the other
sizes. Both results of a comparison are scored against the pair's inputs at that size, with the
default objective's features in float32 (``Objective.from_config(...).features``: the normalised
VGG19):

* style distance: the mean over conv1_1 ... conv5_1 of ||G(x) - G(s)||_F / ||G(s)||_F, G the Gram
  matrix divided by the positions, s the style image at the output's size;
* content error: ||F(x) - F(c)||_F / ||F(c)||_F at conv4_2, c the content image.

Outputs go to ``--cache_dir`` (a temporary folder without it); a single-scale output already
there is used again instead of being run (it does not depend on the code under test).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = tuple(os.path.join(ROOT, "examples", name) for name in ("content.png", "style.jpg"))


def parse_pair(spec: str, shared: str) -> tuple[str, str]:
    """``examples`` or ``CONTENT:STYLE`` (paths, or names of images in ``shared``)."""
    if spec == "examples":
        return EXAMPLES
    content, style = spec.split(":")
    return tuple(p if os.path.isfile(p) else os.path.join(shared, p) for p in (content, style))


def run_tf_nst(pair: tuple[str, str], output: str, *flags: str) -> float:
    """Wall seconds of ``tf-nst`` (this checkout's) on ``pair`` writing ``output``."""
    cmd = [sys.executable, "-m", "tf_nst", f"--content={pair[0]}", f"--style={pair[1]}",
           f"--output={output}", "--overwrite", "--print_every=0", *flags]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"{' '.join(cmd[3:])}: {last}")
    print(f"  {os.path.basename(output)}: {seconds:.0f} s", file=sys.stderr, flush=True)
    return seconds


class Scorer:
    """Style distance and content error of outputs of one pair at one size."""

    def __init__(self, pair: tuple[str, str], size: int) -> None:
        import tensorflow as tf

        from tf_nst import Config, losses
        from tf_nst.builder import extractor_for
        from tf_nst.inputs import as_image, prepare
        from tf_nst.objective import Objective

        config = Config(image_size=size, precision="float32")
        self.tf, self.losses = tf, losses
        self.objective = Objective.from_config(extractor_for(config), config)
        content = prepare(as_image(pair[0], config.max_pixels), size)
        style = prepare(as_image(pair[1], config.max_pixels), config.style_side(size))
        self.content = self.objective.features(content)[self.objective.content_layers[0]]
        styles = self.objective.features(style)
        self.grams = {n: self._gram(styles[n]) for n in self.objective.style_layers}
        self.read = lambda path: prepare(as_image(path, config.max_pixels), size)

    def _gram(self, fmap):
        return self.losses.gram_matrix(fmap)[0] / float(fmap.shape[1] * fmap.shape[2])

    def __call__(self, path: str) -> dict:
        tf = self.tf
        features = self.objective.features(self.read(path))  # outputs are at the size already
        per_layer = [float(tf.norm(self._gram(features[n]) - g) / tf.norm(g))
                     for n, g in self.grams.items()]
        content = features[self.objective.content_layers[0]]
        return dict(style=sum(per_layer) / len(per_layer), per_layer=per_layer,
                    content=float(tf.norm(content - self.content) / tf.norm(self.content)))


def _name(pair: tuple[str, str]) -> str:
    return "+".join(os.path.splitext(os.path.basename(p))[0] for p in pair)


def compare(pair: tuple[str, str], size: int, folder: str) -> dict:
    """Single scale (500 steps, reused from ``folder`` if there) against hires at ``size``."""
    single = os.path.join(folder, f"{_name(pair)}_single_{size}.png")
    hires = os.path.join(folder, f"{_name(pair)}_hires_{size}.png")
    row = dict(pair=_name(pair), size=size, single_s=None)
    if not os.path.isfile(single):
        row["single_s"] = run_tf_nst(pair, single, f"--image_size={size}", "--num_steps=500",
                                     "--stop_tolerance=0")
    row["hires_s"] = run_tf_nst(pair, hires, "--preset=hires", f"--image_size={size}")
    score = Scorer(pair, size)
    row["single"], row["hires"] = score(single), score(hires)
    row["paths"] = (single, hires)
    print(f"  {row['pair']} at {size} px: single {row['single']}, hires {row['hires']}",
          file=sys.stderr, flush=True)
    return row


def run(sizes: list[int], compare_size: int, pairs: list[tuple[str, str]],
        cache_dir: str | None) -> dict:
    """The comparisons at ``compare_size``, then the reference and the hires wall times on
    ``pairs[0]`` (the hires run of the comparison counts for its size)."""
    folder = cache_dir or tempfile.mkdtemp(prefix="tf-nst-hires-")
    os.makedirs(folder, exist_ok=True)
    first = pairs[0]
    rows = [compare(pair, compare_size, folder) for pair in pairs] if compare_size else []
    reference = run_tf_nst(first, os.path.join(folder, "default_512.png"),
                           "--num_steps=500", "--stop_tolerance=0")
    times = {size: run_tf_nst(first, os.path.join(folder, f"{_name(first)}_hires_{size}.png"),
                              "--preset=hires", f"--image_size={size}")
             for size in sizes if size != compare_size or not rows}
    if rows and compare_size in sizes:
        times[compare_size] = rows[0]["hires_s"]
    return dict(reference_s=reference, hires_s=times, compare=rows,
                expected_s=expected(sorted(times), first))


def expected(sizes: list[int], pair: tuple[str, str]) -> dict:
    """tf_nst.timing's estimate of each hires run (without the process's start), the rate
    measured here, after the timed runs; the memory budget is this machine's."""
    from PIL import Image

    from tf_nst import presets, resources, timing
    from tf_nst.images import scaled_size

    config = presets.load("hires")
    rate = timing.measure_rate(config)
    budget = resources.memory_budget()
    with Image.open(pair[0]) as im:
        shape = im.height, im.width
    out = {}
    for size in sizes:
        h, w = scaled_size(*shape, size)
        sized = resources.resolve(config.replace(image_size=size), h, w, budget, size, size)
        out[size] = timing.expected_seconds(timing.stages(sized, h, w), rate)
        print(f"  {size}: {timing.time_line(sized, h, w, rate)}", file=sys.stderr, flush=True)
    return out


def from_args(args, shared: str) -> dict:
    """Runs, prints and draws what ``tools/benchmark.py``'s ``--hires*`` flags ask for."""
    pairs = [parse_pair(p, shared) for p in args.hires_pairs]
    result = run(args.hires, args.hires_compare, pairs, args.cache_dir)
    print("\n" + report(result), flush=True)
    if args.hires_figure and result["compare"]:
        figure(result["compare"][0], args.hires_figure)
    return result


def report(result: dict) -> str:
    ref = result["reference_s"]
    lines = [f"--preset=hires wall time against the 512 px default run ({ref:.0f} s), "
             "tf-nst from start to end, and tf_nst.timing's estimate (without the start-up):",
             "| size | wall s | / 512 px default | estimate s |", "|---|---|---|---|"]
    for size, seconds in sorted(result["hires_s"].items()):
        lines.append(f"| {size} | {seconds:.0f} | {seconds / ref:.2f} | "
                     f"{result['expected_s'][size]:.0f} |")
    if result["compare"]:
        lines += ["", "Single scale (500 steps) against hires at the same size; style distance = "
                  "mean relative Gram distance conv1_1..conv5_1, content error at conv4_2:",
                  "| pair | size | single s | hires s | style single / hires (ratio) | "
                  "content single / hires (ratio) |", "|---|---|---|---|---|---|"]
    for r in result["compare"]:
        s, h = r["single"], r["hires"]
        single_s = "cached" if r["single_s"] is None else f"{r['single_s']:.0f}"
        lines.append(f"| {r['pair']} | {r['size']} | {single_s} | {r['hires_s']:.0f} | "
                     f"{s['style']:.3f} / {h['style']:.3f} ({h['style'] / s['style']:.2f}) | "
                     f"{s['content']:.3f} / {h['content']:.3f} "
                     f"({h['content'] / s['content']:.2f}) |")
    return "\n".join(lines)


def figure(row: dict, path: str, cell: int = 512) -> None:
    """Single scale and hires side by side (tf_nst.grid), whole at ``cell`` px above and a
    ``cell`` px crop of the centre at full size below; a jpg."""
    import numpy as np
    from PIL import Image

    from tf_nst import grid

    whole, crops = [], []
    for p in row["paths"]:
        image = Image.open(p).convert("RGB")
        scale = cell / max(image.size)
        whole.append(image.resize((round(image.width * scale), round(image.height * scale)),
                                  Image.LANCZOS))
        width, height = whole[-1].size  # the crop has the shape of the whole, at full size
        left, top = (image.width - width) // 2, (image.height - height) // 2
        crops.append(image.crop((left, top, left + width, top + height)))
    size = row["size"]
    labels = [f"single scale, 500 steps, {size} px", f"--preset=hires, {size} px",
              "centre, full size", "centre, full size"]
    grid.save(grid.make_grid([np.asarray(i) for i in whole + crops], labels, columns=2), path)
