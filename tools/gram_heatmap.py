"""Gram-matrix heat-maps: the style representation of an image, one map per layer (Eq. 3).

    python tools/gram_heatmap.py --image=examples/style.jpg --layers=conv1_1,conv2_1 --output=g.jpg

Each cell is G / M (channel correlations per position) of one layer, shown on a log scale
(log(1 + G/M), divided by its maximum) so weak correlations stay visible.
"""

from __future__ import annotations

import _common  # noqa: F401  (import path)

PROG = "gram_heatmap.py"


def gram_cells(image, layer_names, image_size: int, cell: int, pooling: str = "max"):
    import numpy as np
    from PIL import Image

    from tf_nst import grid, layers, losses
    from tf_nst.transfer import get_extractor, prepare

    names = tuple(layers.keras_name(n) for n in layer_names)
    features = get_extractor(names, pooling)(prepare(image, image_size))
    cells, labels = [], []
    for layer, name in zip(layer_names, names):
        fmap = features[name]
        positions = fmap.shape[1] * fmap.shape[2]
        gram = (losses.gram_matrix(fmap)[0].numpy() / positions).clip(min=0)
        shown = np.log1p(gram)
        shown = shown / shown.max() if shown.max() > 0 else shown
        heat = Image.fromarray(grid.colormap(shown)).resize((cell, cell), Image.NEAREST)
        cells.append(np.asarray(heat))
        labels.append(f"{layers.paper_name(name)}: {gram.shape[0]}x{gram.shape[0]}")
    return cells, labels


def main(argv) -> None:
    p = _common.parser(PROG, __doc__.splitlines()[0])
    p.add_argument("--image", required=True)
    p.add_argument("--layers", default="conv1_1,conv2_1,conv3_1,conv4_1,conv5_1")
    p.add_argument("--image_size", type=int, default=256)
    p.add_argument("--cell", type=int, default=256, help="side of each heat-map in pixels")
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    args = _common.parse_with_output(p, argv)
    from tf_nst import grid
    from tf_nst.images import DEFAULT_MAX_PIXELS
    from tf_nst.transfer import as_image
    image = as_image(args.image, DEFAULT_MAX_PIXELS)
    names = [n for n in args.layers.split(",") if n]
    cells, labels = gram_cells(image, names, args.image_size, args.cell, args.pooling)
    _common.save(PROG, grid.make_grid(cells, labels), args)


if __name__ == "__main__":
    raise SystemExit(_common.run(PROG, main))
