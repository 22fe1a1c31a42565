"""Images per minute of batch mode for batch sizes 1, 2, 4 (speed belongs here, not in tests).

    python tools/benchmark_batch.py                       # 256 px, 5 Adam steps, 4 images
    python tools/benchmark_batch.py --size=128 --steps=3 --strategy=mirrored

Each row stylises the same 4 same-size images (crops of one photo) with `--batch_size` images per
step; the network is built and the first batch traced before timing starts, so the rows compare
steady-state throughput. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def images_per_minute(contents, style, config, batch_size, strategy) -> float:
    from tf_nst.batch import stylize_batch
    stylize_batch(contents[:batch_size], style, config.replace(num_steps=1), batch_size=batch_size,
                  strategy=strategy)  # build the network and trace this shape
    start = time.perf_counter()
    stylize_batch(contents, style, config, batch_size=batch_size, strategy=strategy)
    return 60.0 * len(contents) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "lbfgs"])
    parser.add_argument("--batch_sizes", default="1,2,4")
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--content", default=str(ROOT / "examples" / "content.png"))
    parser.add_argument("--style", default=str(ROOT / "examples" / "style.jpg"))
    args = parser.parse_args()

    from tf_nst.distribute import make_strategy
    strategy = make_strategy(args.strategy)
    from tf_nst import Config
    from tf_nst.images import read_image
    photo = read_image(args.content)
    h, w = photo.shape[:2]
    # Four different images of one size: the four corner crops of the photo.
    ch, cw = int(h * 0.8), int(w * 0.8)
    contents = [np.ascontiguousarray(photo[y:y + ch, x:x + cw])
                for y in (0, h - ch) for x in (0, w - cw)]
    config = Config(image_size=args.size, num_steps=args.steps, optimizer=args.optimizer)
    print(f"{args.size} px, {args.steps} {args.optimizer} steps, {len(contents)} images, "
          f"strategy {args.strategy}\n")
    print("| batch size | images/min | s/step per batch |")
    print("| --- | --- | --- |")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        rate = images_per_minute(contents, args.style, config, batch_size, strategy)
        per_step = 60.0 * batch_size / rate / args.steps
        print(f"| {batch_size} | {rate:.2f} | {per_step:.2f} |", flush=True)


if __name__ == "__main__":
    main()
