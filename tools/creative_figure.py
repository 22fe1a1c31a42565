"""The creative controls side by side: one style, a 50/50 blend of two, two styles by region
(masks), original colours, colour-matched style, and a region kept unstylised (content mask).

    python tools/creative_figure.py --content=examples/content.png \
        --styles=starry_night.jpg,examples/style.jpg --output=docs/creative_controls.jpg
"""

from __future__ import annotations

import _common  # noqa: F401  (import path)

PROG = "creative_figure.py"


def main(argv) -> None:
    p = _common.parser(PROG, __doc__.splitlines()[0])
    p.add_argument("--content", required=True)
    p.add_argument("--styles", required=True, help="two style images, comma-separated")
    p.add_argument("--image_size", type=int, default=192)
    p.add_argument("--num_steps", type=int, default=100)
    args = _common.parse_with_output(p, argv)
    import numpy as np

    from tf_nst import Config, StyleTransfer, grid
    from tf_nst.images import DEFAULT_MAX_PIXELS
    from tf_nst.transfer import as_image, prepare
    styles = [as_image(s, DEFAULT_MAX_PIXELS) for s in args.styles.split(",") if s]
    if len(styles) != 2:
        raise ValueError(f"--styles={args.styles}: expected two images")
    content = as_image(args.content, DEFAULT_MAX_PIXELS)
    base = Config(image_size=args.image_size, num_steps=args.num_steps)
    h, w = prepare(content, args.image_size).shape[1:3]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1
    yy, xx = np.mgrid[:h, :w]
    centre = (((yy - h * 0.45) / (h * 0.3)) ** 2 + ((xx - w * 0.5) / (w * 0.22)) ** 2 <= 1)
    runs = [
        ("style A", dict(style=styles[0])),
        ("A+B blend 1:1", dict(style=styles)),
        ("masks: A left, B right", dict(style=styles, style_masks=[left, 1 - left])),
        ("A, original colours", dict(style=styles[0], config=base.replace(original_colors=True))),
        ("A, colour-matched", dict(style=styles[0],
                                   config=base.replace(color_transfer="histogram"))),
        ("A, content mask (face)", dict(style=styles[0], content_mask=centre.astype(np.float32))),
    ]
    cells = [prepare(im, args.image_size)[0].numpy() for im in [content] + styles]
    labels = ["content", "style A", "style B"]
    for label, kwargs in runs:
        config = kwargs.pop("config", base)
        style = kwargs.pop("style")
        cells.append(StyleTransfer(content, style, config, **kwargs).run())
        labels.append(label)
        print(f"{PROG}: {label} done", flush=True)
    _common.save(PROG, grid.make_grid(cells, labels, columns=3, label_height=14), args)


if __name__ == "__main__":
    raise SystemExit(_common.run(PROG, main))
