"""Which feature works in which mode: the one table of refusals.

Every mode runs the same builder and step, so a feature works everywhere unless the maths or a
format rules it out; those cells and their reasons are listed here, for the command, the exporter,
README's table (``python tools/modes_table.py``) and tests/test_modes.py.
"""

from __future__ import annotations

MODE_NAMES = {"single": "one image", "batch": "several images", "video": "--video",
              "mirrored": "--strategy=mirrored", "multi_worker": "--strategy=multi_worker",
              "saved_model": "an exported SavedModel", "tflite": "a TFLite model"}
MODES = tuple(MODE_NAMES)
FEATURES = ("scales", "tile_size", "original_colors", "color_transfer", "blend", "style_masks",
            "content_mask", "init_file", "checkpoint_dir", "logdir", "save_every",
            "stop_tolerance", "mixed_bfloat16", "strategy", "batch_size")

_SIDE_BY_SIDE = ("each frame starts from the previous frame's result, so frames cannot be "
                 "optimised side by side")
_NO_HOST = "a served model runs one request in its graph; it keeps no files between calls"
_NO_MASKS = "masks are images of their own and the exported signatures take only content and style"
_EXPORT = {
    "tile_size": ("tiling visits the tiles of a canvas from the host, outside any graph; an "
                  "exported model optimises the whole image"),
    "init_file": "a file path is not a request input; an exported model starts from content, "
                 "noise or style",
    "style_masks": _NO_MASKS,
    "content_mask": _NO_MASKS,
    "checkpoint_dir": _NO_HOST,
    "logdir": _NO_HOST,
    "save_every": _NO_HOST,
    "strategy": "a served model is replicated by its server, not by --strategy",
    "batch_size": "a request carries one content image",
}
REFUSED: dict[tuple[str, str], str] = {
    ("video", "strategy"): _SIDE_BY_SIDE,
    ("video", "batch_size"): _SIDE_BY_SIDE,
    **{(mode, feature): reason for mode in ("saved_model", "tflite")
       for feature, reason in _EXPORT.items()},
    ("tflite", "color_transfer"): "--color_transfer=histogram's matrix square roots need an "
                                  "eigendecomposition, which TFLite has no builtin operator for",
    ("tflite", "mixed_bfloat16"): "TFLite's builtin operators compute in float32",
}


def refusal(mode: str, feature: str) -> str | None:
    """Why ``feature`` cannot be used in ``mode``, or None if it works there."""
    if mode not in MODES or feature not in FEATURES:
        raise KeyError(f"unknown mode or feature: {mode}, {feature}")
    return REFUSED.get((mode, feature))


def check(mode: str, used: dict[str, str | None]) -> None:
    """:class:`~tf_nst.config.ConfigError` for the first feature of ``used`` (feature -> the
    flag as the user gave it, None if not given) that ``mode`` refuses: ``FLAG: REASON``."""
    from tf_nst.config import ConfigError
    for feature, flag in used.items():
        reason = refusal(mode, feature)
        if flag and reason:
            raise ConfigError(f"{flag}: not with {MODE_NAMES[mode]}: {reason}")
