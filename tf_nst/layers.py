"""VGG19 layer names: the paper's notation (``conv4_2``, ``relu4_2``) and Keras' (``block4_conv2``).

Keras' VGG19 fuses each ReLU into its convolution layer, so ``block4_conv2`` outputs the rectified
responses. The Caffe model used by Gatys et al. applies its ReLUs in place, so the paper's
``conv4_2`` features are rectified too: ``conv4_2`` and ``relu4_2`` both name ``block4_conv2``.
"""

from __future__ import annotations

import re

# Convolutions per block of VGG19 (Simonyan & Zisserman 2015, configuration E).
CONVS_PER_BLOCK = (2, 2, 4, 4, 4)
CHANNELS_PER_BLOCK = (64, 128, 256, 512, 512)

KERAS_LAYERS: tuple[str, ...] = tuple(
    name
    for block, convs in enumerate(CONVS_PER_BLOCK, start=1)
    for name in [f"block{block}_conv{i}" for i in range(1, convs + 1)] + [f"block{block}_pool"]
)

_PAPER = re.compile(r"^(?:(?:conv|relu)(\d)_(\d)|pool(\d))$")


def keras_name(name: str) -> str:
    """Keras' name of a VGG19 layer given in either notation; ``ValueError`` if there is none."""
    name = name.strip()
    candidate, match = name, _PAPER.match(name)
    if match:
        block, conv, pool = match.groups()
        candidate = f"block{block}_conv{conv}" if block else f"block{pool}_pool"
    if candidate in KERAS_LAYERS:
        return candidate
    raise ValueError(
        f"unknown VGG19 layer {name!r}; use conv1_1 ... conv5_4 (or relu*/pool*) or Keras names "
        f"such as block4_conv2")


def paper_name(name: str) -> str:
    """The paper's name (``conv4_2``, ``pool1``) of a layer given in either notation."""
    block, conv = re.match(r"^block(\d)_(?:conv(\d)|pool)$", keras_name(name)).groups()
    return f"conv{block}_{conv}" if conv else f"pool{block}"


def channels(name: str) -> int:
    """Number of feature channels N_l of a layer."""
    return CHANNELS_PER_BLOCK[int(keras_name(name)[5]) - 1]


def deepest(names: list[str] | tuple[str, ...]) -> str:
    """The Keras name of the deepest of ``names`` (the network is cut after it)."""
    return max((keras_name(n) for n in names), key=KERAS_LAYERS.index)


def smallest_side(name: str) -> int:
    """The fewest pixels an image side needs for layer ``name`` to have at least one position:
    2^p for the p 2x2 poolings before it (16 for ``conv5_1``; a pool layer counts itself)."""
    up_to = KERAS_LAYERS[:KERAS_LAYERS.index(keras_name(name)) + 1]
    return 2 ** sum(layer.endswith("_pool") for layer in up_to)


def output_shapes(height: int, width: int, deepest: str) -> list[tuple[str, int, int, int]]:
    """``(keras_name, h, w, channels)`` of each layer's output up to ``deepest`` for an input of
    ``height x width``: 3x3 convolutions keep the size ('same' padding), each 2x2/2 pooling
    floors it (Keras' 'valid')."""
    out, h, w = [], height, width
    for name in KERAS_LAYERS[:KERAS_LAYERS.index(deepest) + 1]:
        if name.endswith("_pool"):
            h, w = h // 2, w // 2
        out.append((name, h, w, channels(name)))
    return out
