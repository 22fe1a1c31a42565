"""Peer reference: the same style-transfer step written the usual PyTorch way, timed on this machine.

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
import statistics
import time

# conv3x3 channel plan of VGG19 up to conv5_1; "M" = 2x2 max pooling.
VGG19_TO_CONV5_1 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                    512)
CONV_NAMES = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv3_4", "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1")
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"


def build(torch):
    nn = torch.nn
    layers, channels = [], 3
    for spec in VGG19_TO_CONV5_1:
        if spec == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, spec, 3, padding=1), nn.ReLU(inplace=True)]
            channels = spec
    net = nn.Sequential(*layers).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def features(net, image):
    out, names = {}, iter(CONV_NAMES)
    x = image
    for layer in net:
        x = layer(x)
        if layer.__class__.__name__ == "ReLU":
            out[next(names)] = x
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
        loss = 0.5 * ((maps[CONTENT_LAYER] - content_target) ** 2).sum()
        for name in STYLE_LAYERS:
            _, c, h, w = maps[name].shape
            loss = loss + 1e3 / len(STYLE_LAYERS) * (
                (gram(torch, maps[name]) - style_targets[name]) ** 2).sum() / (4 * c * c * (h * w) ** 2)
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
