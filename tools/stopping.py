#!/usr/bin/env python
"""Where the stopping rule (``--stop_tolerance``, tf_nst/stopping.py) stops the default run, and
how far its image is then from the 500-step image.

    python tools/stopping.py --cache_dir /tmp/nst-stopping      # every pair at 160, 256, 512 px
    python tools/stopping.py --cache_dir /tmp/nst-stopping --sizes 160 256 --pairs examples \
        tubingen:starry_night golden_gate:the_scream hoovertowernight:shipwreck
                                              # the table of docs/performance.md, "When a run stops"
    python tools/stopping.py --cache_dir /tmp/nst-stopping --sizes 160 \
        --tolerances 0.001 0.002 0.003 --windows 10 20 30                      # candidate rules

Each (pair, size) is one default-config run (``Config(image_size=size, num_steps=500,
stop_tolerance=0)``, precision auto) stepped one step at a time: the total loss and the image
(float16) of every step are kept, and saved under ``--cache_dir`` when given, so candidate
rules are judged again without running again. For each candidate (tolerance T, window W) the
rule of tf_nst.stopping is fed the recorded losses; the table gives the step it stops at (500 =
it did not stop) and the mean absolute pixel difference between the image at that step and at
step 500, in 1/255 units. A 256 px run takes
about 1.5 minutes on a 2-core CPU, a 512 px run about 6.

Pairs are ``content:style`` with paths, or names of images in ``--images`` (default
../shared/images, or $TF_NST_SHARED_IMAGES); ``examples`` is examples/content.png x
examples/style.jpg.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("TF_NST_SHARED_IMAGES", os.path.join(ROOT, "..", "shared", "images"))
sys.path.insert(0, ROOT)  # this checkout's tf_nst, not an installed one

from tf_nst import stopping  # noqa: E402

PAIRS = ("examples", "tubingen:starry_night", "golden_gate:the_scream",
         "hoovertowernight:shipwreck", "tubingen:woman-with-hat-matisse",
         "golden_gate:starry_night")


def pair_paths(pair: str, images: str) -> tuple[str, str]:
    """``content:style`` (names in ``images`` or paths) -> the two paths."""
    if pair == "examples":
        return (os.path.join(ROOT, "examples", "content.png"),
                os.path.join(ROOT, "examples", "style.jpg"))
    paths = []
    for name in pair.split(":"):
        if not os.path.exists(name):
            found = [f for f in sorted(os.listdir(images)) if os.path.splitext(f)[0] == name]
            if not found:
                raise SystemExit(f"no image named {name!r} in {images}")
            name = os.path.join(images, found[0])
        paths.append(name)
    return paths[0], paths[1]


def record(pair: str, size: int, steps: int, images: str) -> tuple[np.ndarray, np.ndarray]:
    """One default run: ``(losses [steps], images [steps, H, W, 3] float16)``, step k at k - 1."""
    from tf_nst import Config, StyleTransfer

    content, style = pair_paths(pair, images)
    st = StyleTransfer(content, style, Config(image_size=size, num_steps=steps,
                                              stop_tolerance=0))
    losses, frames = np.zeros(steps, np.float64), None
    start = time.perf_counter()
    for k in range(steps):
        losses[k] = st.step()["total"]
        image = st.image
        if frames is None:
            frames = np.zeros((steps, *image.shape), np.float16)
        frames[k] = image
    print(f"# recorded {pair} at {size} px: {steps} steps in {time.perf_counter() - start:.0f} s",
          file=sys.stderr, flush=True)
    return losses, frames


def load(pair: str, size: int, steps: int, images: str, cache_dir: str | None):
    """The recording of (pair, size), from ``cache_dir`` if it holds it, else run (and save)."""
    stem = None
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        stem = os.path.join(cache_dir, f"{pair.replace(':', '_x_').replace('/', '_')}_{size}"
                                       f"_{steps}")
        if os.path.exists(stem + "_images.npy"):
            return np.load(stem + "_losses.npy"), np.load(stem + "_images.npy", mmap_mode="r")
    losses, frames = record(pair, size, steps, images)
    if stem:
        np.save(stem + "_losses.npy", losses)
        np.save(stem + "_images.npy", frames)
    return losses, frames


def stop_step(losses: np.ndarray, tolerance: float, window: int) -> int:
    """The step the rule stops the run at (``len(losses)`` if it never does)."""
    state = stopping.start(1, window)
    for k, total in enumerate(losses, start=1):
        state = stopping.judge(state, [total], tolerance, window=window)
        if state.stopped_at[0] > 0:
            return k
    return len(losses)


def pixel_diff(frames: np.ndarray, step: int) -> float:
    """Mean |image(step) - image(last)| in 1/255 units."""
    a = np.asarray(frames[step - 1], np.float32)
    b = np.asarray(frames[-1], np.float32)
    return float(np.mean(np.abs(a - b)) * 255.0)


def main(argv=None) -> list[dict]:
    """Prints the tables; returns a row per (pair, size, rule)."""
    from tf_nst import Config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[160, 256, 512])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--tolerances", nargs="+", type=float,
                        default=[Config().stop_tolerance])
    parser.add_argument("--windows", nargs="+", type=int, default=[stopping.WINDOW])
    parser.add_argument("--images", default=SHARED)
    parser.add_argument("--cache_dir", default=None,
                        help="save recordings here and reuse those it holds")
    parser.add_argument("--record_only", action="store_true")
    args = parser.parse_args(argv)

    results, rows = {}, []  # (size, window, tolerance) -> [(stop, diff)]; the table's rows
    print("| pair | size | rule | stop step | mean diff (/255) |")
    print("| --- | ---: | --- | ---: | ---: |")
    for size in args.sizes:
        for pair in args.pairs:
            losses, frames = load(pair, size, args.steps, args.images, args.cache_dir)
            if args.record_only:
                continue
            for window in args.windows:
                for tol in args.tolerances:
                    stop = stop_step(losses, tol, window)
                    diff = pixel_diff(frames, stop)
                    results.setdefault((size, window, tol), []).append((stop, diff))
                    rows.append(dict(pair=pair, size=size, tolerance=tol, window=window,
                                     stop_step=stop, mean_diff=diff))
                    print(f"| {pair.replace(':', ' x ')} | {size} | T={tol:g} W={window} "
                          f"| {stop} | {diff:.2f} |", flush=True)
    if results:
        print("\n| size | rule | mean stop step | max stop step | mean diff | max diff |")
        print("| ---: | --- | ---: | ---: | ---: | ---: |")
        for (size, window, tol), rows in sorted(results.items()):
            stops, diffs = np.array(rows).T
            print(f"| {size} | T={tol:g} W={window} | {stops.mean():.0f} | {stops.max():.0f} "
                  f"| {diffs.mean():.2f} | {diffs.max():.2f} |")
    return rows


if __name__ == "__main__":
    main()
