"""Peer reference: the same style-transfer step written the usual PyTorch way, timed here.

What the typical PyTorch implementations (the PyTorch tutorial, jcjohnson/neural-style's ports)
run per step: VGG19's convolutional layers up to conv5_1 (torchvision's layout, in-place ReLUs,
max pooling), content loss at conv4_2, Gram-matrix style losses at conv1_1 ... conv5_1, the
gradient with respect to the image only, and one Adam update. Weights are random (the time does
not depend on them), so no download is needed; the network's parameters are frozen
(``requires_grad=False``), as those implementations do, so no filter gradient is computed.

Needs PyTorch, which tf-nst does not depend on: ``pip install torch`` (a CPU build is enough).
Prints median and best seconds per step at each size. ``tools/benchmark.py`` runs it (when PyTorch
is installed) and sets its figures beside ours, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tf_nst import layers  # noqa: E402  (pure Python: no TensorFlow in this process)
from tf_nst.config import Config  # noqa: E402

PAPER = Config()  # the paper's layers and loss weights, as tf-nst's benchmark step uses them
STYLE_LAYERS = tuple(layers.paper_name(n) for n in PAPER.style_layers)
CONTENT_LAYER = layers.paper_name(PAPER.content_layers[0])
# The network up to the deepest layer used: 3x3 convolutions (paper names) and 2x2 max pooling.
PLAN = tuple(layers.paper_name(n) for n in layers.KERAS_LAYERS[
    :layers.KERAS_LAYERS.index(layers.deepest(STYLE_LAYERS + (CONTENT_LAYER,))) + 1])


def build(torch):
    """``[(paper name or None, module)]``: VGG19 to the deepest layer used, frozen random weights
    (the paper name marks the ReLU whose output is that layer's features)."""
    nn = torch.nn
    modules, channels = [], 3
    for name in PLAN:
        if name.startswith("pool"):
            modules.append((None, nn.MaxPool2d(2, 2)))
        else:
            out = layers.channels(name)
            modules += [(None, nn.Conv2d(channels, out, 3, padding=1)),
                        (name, nn.ReLU(inplace=True))]
            channels = out
    for _, module in modules:
        for p in module.parameters():
            p.requires_grad_(False)
    return modules


def features(net, image):
    out, x = {}, image
    for name, module in net:
        x = module(x)
        if name is not None:
            out[name] = x
    return out


def gram(torch, fmap):
    b, c, h, w = fmap.shape
    flat = fmap.reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2))


def time_size(torch, size: int, steps: int) -> tuple[float, float]:
    torch.manual_seed(0)
    net = build(torch)
    content = torch.rand(1, 3, size, size) * 255
    style = torch.rand(1, 3, size, size) * 255
    with torch.no_grad():
        content_target = features(net, content)[CONTENT_LAYER].clone()
        style_targets = {k: gram(torch, v) for k, v in features(net, style).items()
                         if k in STYLE_LAYERS}
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=2.0)

    def step():
        optimizer.zero_grad()
        maps = features(net, image)
        loss = PAPER.content_weight * 0.5 * ((maps[CONTENT_LAYER] - content_target) ** 2).sum()
        for name in STYLE_LAYERS:
            _, c, h, w = maps[name].shape
            error = ((gram(torch, maps[name]) - style_targets[name]) ** 2).sum()
            loss = loss + PAPER.style_weight / len(STYLE_LAYERS) * error / (4 * c**2 * (h * w)**2)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--result", action="store_true",
                        help="also print one RESULT line of JSON (for tools/benchmark.py)")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("benchmark_torch: PyTorch is not installed (pip install torch)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = []
    for size in args.sizes:
        median, best = time_size(torch, size, args.steps)
        print(f"{size} px float32, Adam: {median:.3f} s/step median ({best:.3f} best)", flush=True)
        rows.append(dict(size=size, s_per_step=median, best_s_per_step=best))
    if args.result:
        print("RESULT " + json.dumps(dict(torch=torch.__version__, rows=rows)))


if __name__ == "__main__":
    main()
