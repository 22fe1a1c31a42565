"""Content/style trade-off: one result per ratio alpha/beta, in a labelled grid (Gatys et al.
2016, Fig. 3 columns).

    python tools/alpha_beta_sweep.py --content=examples/content.png --style=examples/style.jpg \
        --ratios=1e-4,1e-3,1e-2,1e-1 --output=docs/alpha_beta.jpg

alpha (content_weight) is 1 and beta (style_weight) is 1 / ratio; every other setting is the
library's default unless given.
"""

from __future__ import annotations

import _common  # noqa: F401  (import path)

PROG = "alpha_beta_sweep.py"


def main(argv) -> None:
    p = _common.parser(PROG, __doc__.splitlines()[0])
    _common.add_transfer_args(p)
    p.add_argument("--ratios", default="1e-4,1e-3,1e-2,1e-1", help="alpha/beta values")
    args = _common.parse_with_output(p, argv)
    from tf_nst import Config, StyleTransfer, grid
    from tf_nst.images import DEFAULT_MAX_PIXELS
    from tf_nst.transfer import as_image
    content = as_image(args.content, DEFAULT_MAX_PIXELS)
    style = as_image(args.style, DEFAULT_MAX_PIXELS)
    ratios = [float(r) for r in args.ratios.split(",") if r]
    if not ratios or any(r <= 0 for r in ratios):
        raise ValueError(f"--ratios={args.ratios}: expected positive numbers")
    cells, labels = ([], []) if args.no_inputs else _common.inputs_cells(content, style,
                                                                          args.image_size)
    for ratio in ratios:
        config = Config(image_size=args.image_size, num_steps=args.num_steps, content_weight=1.0,
                        style_weight=1.0 / ratio, optimizer=args.optimizer, init=args.init,
                        pooling=args.pooling)
        cells.append(StyleTransfer(content, style, config).run())
        labels.append(f"alpha/beta = {ratio:.0e}")
    _common.save(PROG, grid.make_grid(cells, labels), args)


if __name__ == "__main__":
    raise SystemExit(_common.run(PROG, main))
