"""sweep: the content/style trade-off, one result per alpha/beta (Gatys et al. 2016, Fig. 3).

alpha (content_weight) is 1 and beta (style_weight) is 1 / ratio. In the default (authors')
formulation the default ratios run from mostly style at 5e-3 through the library's 5e-2 to mostly
content at 5.
"""

from __future__ import annotations

from tf_nst.visualize import common


def add_arguments(p) -> None:
    common.add_transfer_args(p)
    p.add_argument("--ratios", type=common.positive_numbers, default=[5e-3, 5e-2, 5e-1, 5.0],
                   help="alpha/beta values, comma-separated (default: 5e-3,5e-2,5e-1,5)")


def figure(args):
    return common.transfer_grid(args, lambda content, styles: [
        (f"alpha/beta = {r:.0e}", common.transfer_config(args, r), {}) for r in args.ratios])
