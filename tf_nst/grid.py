"""Labelled image grids and a colour map for :mod:`tf_nst.visualize`'s figures (Pillow)."""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# A perceptually ordered dark-blue -> teal -> yellow ramp (viridis' end points and midpoints).
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
                 np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB uint8 along a viridis-like ramp; ``[..., 3]``."""
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0) * (len(_RAMP) - 1)
    low = np.floor(v).astype(int).clip(0, len(_RAMP) - 2)
    frac = (v - low)[..., None]
    return (_RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac + 0.5).astype(np.uint8)


def make_grid(images: Sequence[np.ndarray], labels: Sequence[str] | None = None,
              columns: int | None = None, pad: int = 4, label_height: int = 14,
              background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Tile ``images`` in ``columns`` cells per row (default: one row), each as large as the
    largest image, with its label in a ``label_height`` strip under it and ``pad`` px around and
    between the cells; an image is uint8, or float in [0, 1] (:func:`tf_nst.images.to_uint8`)."""
    from tf_nst.images import to_uint8
    if not images:
        raise ValueError("no images to put in a grid")
    arrays = [np.asarray(image) for image in images]
    tiles = [Image.fromarray(a if a.dtype == np.uint8 else to_uint8(a)) for a in arrays]
    labels = list(labels) if labels is not None else [""] * len(tiles)
    if not any(labels):
        label_height = 0
    columns = columns or len(tiles)
    rows = math.ceil(len(tiles) / columns)
    cell_w, cell_h = max(t.width for t in tiles), max(t.height for t in tiles)
    grid = Image.new("RGB", (pad + columns * (cell_w + pad),
                             pad + rows * (cell_h + label_height + pad)), background)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        x = pad + (i % columns) * (cell_w + pad)
        y = pad + (i // columns) * (cell_h + label_height + pad)
        grid.paste(tile, (x + (cell_w - tile.width) // 2, y + (cell_h - tile.height) // 2))
        if label:
            draw.text((x + 1, y + cell_h + 1), label, fill=(0, 0, 0), font=font)
    return grid


def save(image: Image.Image, path: str) -> None:
    """Save a grid atomically (:func:`tf_nst.images.write_atomically`) in the format Pillow infers
    from the extension; JPEG at quality 88 (figures stay small)."""
    from tf_nst.images import write_atomically
    extension = os.path.splitext(path)[1].lower()
    image_format = Image.registered_extensions().get(extension)
    if image_format is None:
        raise ValueError(f"{path}: unknown image format {extension or '(no extension)'!r}")
    options = {"quality": 88, "optimize": True} if image_format == "JPEG" else {}
    write_atomically(path, lambda f: image.save(f, format=image_format, **options))
