"""gram: an image's style representation, a Gram-matrix heat-map per layer (Eq. 3).

Each cell is G / M (channel correlations per position) of one layer on a log scale,
log(1 + G/M) divided by its maximum, so weak correlations stay visible.
"""

from __future__ import annotations

from tf_nst.visualize import common


def add_arguments(p) -> None:
    common.add_image_args(p)
    p.add_argument("--layers", default="conv1_1,conv2_1,conv3_1,conv4_1,conv5_1",
                   help="comma-separated layers, one heat-map each")
    p.add_argument("--cell", type=int, default=256, help="side of each heat-map in pixels")


def figure(args):
    import numpy as np
    from PIL import Image

    from tf_nst import grid, layers, losses
    names = [n for n in args.layers.split(",") if n]
    cells, labels = [], []
    for name, fmap in zip(names, common.features(args, names)):
        gram = (losses.gram_matrix(fmap)[0].numpy() / (fmap.shape[1] * fmap.shape[2])).clip(min=0)
        shown = np.log1p(gram)
        shown = shown / shown.max() if shown.max() > 0 else shown
        heat = Image.fromarray(grid.colormap(shown)).resize((args.cell, args.cell), Image.NEAREST)
        cells.append(np.asarray(heat))
        labels.append(f"{layers.paper_name(name)}: {gram.shape[0]}x{gram.shape[0]}")
    return grid.make_grid(cells, labels)
