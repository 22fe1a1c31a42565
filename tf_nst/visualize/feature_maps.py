"""feature-maps: what one VGG19 layer sees in an image (Gatys et al. 2016, Fig. 1).

The --channels most active channels of --layer (largest mean response), each scaled to its own
maximum and labelled with its index; deep layers' small maps are enlarged to at least 64 px.
"""

from __future__ import annotations

from tf_nst.visualize import common


def add_arguments(p) -> None:
    common.add_image_args(p)
    p.add_argument("--layer", default="conv1_1", help="conv1_1 ... conv5_4 (or Keras names)")
    p.add_argument("--channels", type=int, default=32, help="how many channels to show")
    p.add_argument("--columns", type=int, default=8, help="channels per row")


def figure(args):
    import numpy as np

    from tf_nst import grid
    fmap = common.features(args, [args.layer])[0][0].numpy().astype(np.float32)
    order = np.argsort(-fmap.mean(axis=(0, 1)))[:args.channels]
    scale = max(1, 64 // max(fmap.shape[:2]))
    maps = [fmap[..., c] for c in order]
    heats = [grid.colormap(m / m.max() if m.max() > 0 else m) for m in maps]
    cells = [heat.repeat(scale, axis=0).repeat(scale, axis=1) for heat in heats]
    return grid.make_grid(cells, [f"#{c}" for c in order], columns=args.columns)
