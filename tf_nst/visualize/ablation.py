"""ablation: what each style layer adds (Gatys et al. 2016, Fig. 3).

Rows: style from conv1_1 only, then conv1_1 to conv2_1, ..., to conv5_1 (the deeper the style
layers, the larger the style's structures); columns: one alpha/beta each (``--ratios``; the
default is the library's balance alone).
"""

from __future__ import annotations

from tf_nst.visualize import common

LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def add_arguments(p) -> None:
    common.add_transfer_args(p)
    p.add_argument("--ratios", type=common.positive_numbers, default=None,
                   help="alpha/beta values, comma-separated, one column each (default: the "
                        "library's alpha/beta)")


def figure(args):
    ratios = args.ratios or [None]

    def runs(content, styles):
        for depth in range(1, len(LAYERS) + 1):
            layers = "conv1_1" if depth == 1 else f"conv1_1..{LAYERS[depth - 1]}"
            for ratio in ratios:
                label = layers if ratio is None else f"{layers}, {ratio:.0e}"
                yield label, common.transfer_config(args, ratio, style_layers=LAYERS[:depth]), {}

    return common.transfer_grid(args, runs, columns=len(ratios) if args.ratios else None)
