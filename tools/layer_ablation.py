"""Style-layer ablation: style from conv1_1 only, up to conv2_1, ..., up to conv5_1 (Gatys et al.
2016, Fig. 3 rows): the deeper the layers, the larger the style's structures.

    python tools/layer_ablation.py --content=examples/content.png --style=examples/style.jpg \
        --output=docs/layer_ablation.jpg
"""

from __future__ import annotations

import _common  # noqa: F401  (import path)

PROG = "layer_ablation.py"
LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def main(argv) -> None:
    p = _common.parser(PROG, __doc__.splitlines()[0])
    _common.add_transfer_args(p)
    p.add_argument("--ratio", type=float, default=1e-3, help="alpha/beta (content/style)")
    args = _common.parse_with_output(p, argv)
    if args.ratio <= 0:
        raise ValueError(f"--ratio={args.ratio}: must be positive")
    from tf_nst import Config, StyleTransfer, grid
    from tf_nst.images import DEFAULT_MAX_PIXELS
    from tf_nst.transfer import as_image
    content = as_image(args.content, DEFAULT_MAX_PIXELS)
    style = as_image(args.style, DEFAULT_MAX_PIXELS)
    cells, labels = ([], []) if args.no_inputs else _common.inputs_cells(content, style,
                                                                          args.image_size)
    for depth in range(1, len(LAYERS) + 1):
        config = Config(image_size=args.image_size, num_steps=args.num_steps, content_weight=1.0,
                        style_weight=1.0 / args.ratio, style_layers=LAYERS[:depth],
                        optimizer=args.optimizer, init=args.init, pooling=args.pooling)
        cells.append(StyleTransfer(content, style, config).run())
        labels.append("conv1_1" if depth == 1 else f"conv1_1..{LAYERS[depth - 1]}")
    _common.save(PROG, grid.make_grid(cells, labels), args)


if __name__ == "__main__":
    raise SystemExit(_common.run(PROG, main))
