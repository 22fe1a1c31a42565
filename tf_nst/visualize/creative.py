"""creative: the creative controls side by side, with two styles A and B (--style=A,B).

A alone, a 1:1 blend, A left and B right (style masks), A with the content's colours, A
colour-matched to the content, and A with a region kept unstylised (content mask).
"""

from __future__ import annotations

from tf_nst.visualize import common


def add_arguments(p) -> None:
    common.add_transfer_args(p, size=192)


def figure(args):
    import numpy as np

    def runs(content, styles):
        if len(styles) != 2:
            raise ValueError(f"--style={args.style}: expected two images, comma-separated")
        h, w = content.shape[:2]
        left = np.zeros((h, w), np.float32)
        left[:, : w // 2] = 1
        yy, xx = np.mgrid[:h, :w]
        face = (((yy - h * 0.45) / (h * 0.3)) ** 2 + ((xx - w * 0.5) / (w * 0.22)) ** 2 <= 1)
        base, a = common.transfer_config(args), dict(style=styles[0])
        return [("style A", base, a), ("A+B blend 1:1", base, {}),
                ("masks: A left, B right", base, dict(style_masks=[left, 1 - left])),
                ("A, original colours", base.replace(original_colors=True), a),
                ("A, colour-matched", base.replace(color_transfer="histogram"), a),
                ("A, content mask (face)", base, dict(a, content_mask=face.astype(np.float32)))]

    return common.transfer_grid(args, runs, columns=3)
