"""Feature-map grid: what one VGG19 layer "sees" in an image (Gatys et al. 2016, Fig. 1).

    python tools/feature_maps.py --image=examples/content.png --layer=conv2_1 --output=maps.jpg

Shows the ``--channels`` most active channels of the layer (largest mean response), each scaled
to its own maximum, labelled with the channel index.
"""

from __future__ import annotations

import _common  # noqa: F401  (import path)

PROG = "feature_maps.py"


def feature_grid(image, layer: str, image_size: int, channels: int, columns: int,
                 pooling: str = "max"):
    import numpy as np

    from tf_nst import grid, layers
    from tf_nst.transfer import get_extractor, prepare

    name = layers.keras_name(layer)
    extractor = get_extractor((name,), pooling)
    fmap = extractor(prepare(image, image_size))[name][0].numpy().astype(np.float32)
    order = np.argsort(-fmap.mean(axis=(0, 1)))[:channels]
    cells = []
    for c in order:
        m = fmap[..., c]
        cells.append(grid.colormap(m / m.max() if m.max() > 0 else m))
    scale = max(1, 64 // max(fmap.shape[:2]))  # enlarge deep layers' tiny maps
    from PIL import Image
    cells = [np.asarray(Image.fromarray(c).resize((c.shape[1] * scale, c.shape[0] * scale),
                                                   Image.NEAREST)) for c in cells]
    return grid.make_grid(cells, [f"#{c}" for c in order], columns=columns)


def main(argv) -> None:
    p = _common.parser(PROG, __doc__.splitlines()[0])
    p.add_argument("--image", required=True)
    p.add_argument("--layer", default="conv1_1", help="conv1_1 ... conv5_4 (or Keras names)")
    p.add_argument("--image_size", type=int, default=256)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--columns", type=int, default=8)
    p.add_argument("--pooling", default="max", choices=("max", "avg"))
    args = _common.parse_with_output(p, argv)
    from tf_nst.images import DEFAULT_MAX_PIXELS
    from tf_nst.transfer import as_image
    image = as_image(args.image, DEFAULT_MAX_PIXELS)
    out = feature_grid(image, args.layer, args.image_size, args.channels, args.columns,
                       args.pooling)
    _common.save(PROG, out, args)


if __name__ == "__main__":
    raise SystemExit(_common.run(PROG, main))
