"""The normalised VGG19 of Gatys et al. 2016, Sec. 2: "the mean activation of each convolutional
filter over images and positions is equal to one".

Dividing a ReLU map by a constant c > 0 and multiplying the next layer's input weights by c
changes nothing else, so the normalised network's feature maps are the raw network's divided,
filter by filter, by the filter's mean activation over photos. That is how they are computed
(:meth:`tf_nst.objective.Objective.features`), with one copy of the weights. The factors
(``data/vgg19_normalization.npz``) are made by ``tools/vgg_normalization.py`` (docs/objective.md).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from tf_nst import layers

PATH = os.path.join(os.path.dirname(__file__), "data", "vgg19_normalization.npz")


@functools.lru_cache(maxsize=1)
def factors() -> dict[str, np.ndarray]:
    """Mean activation of each filter of each VGG19 convolution, ``{keras_name: [N_l]}``."""
    with np.load(PATH) as data:
        return {name: data[name].astype(np.float32) for name in data.files}


# Deviation from the paper: a filter almost silent on photos is scaled as if its mean were this
# fraction of its layer's median, so that it cannot dominate a painting's Gram matrix.
FLOOR = 0.01


def inverse_factors(layer: str) -> np.ndarray:
    """The multipliers that normalise ``layer``'s feature maps: 1 / mean activation per filter."""
    mean = factors()[layers.keras_name(layer)]
    return (1.0 / np.maximum(mean, FLOOR * np.median(mean))).astype(np.float32)
