"""tf-nst: neural style transfer (Gatys, Ecker & Bethge, CVPR 2016) in TensorFlow/Keras.

The public names are imported lazily, so ``tf-nst --help`` answers without loading TensorFlow.
"""

from __future__ import annotations

import importlib
import os as _os

# TensorFlow's C++ start-up chatter (no GPU found, oneDNN notes) is noise for a command-line tool.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "tf_nst.config",
    "ConfigError": "tf_nst.config",
    "FeatureExtractor": "tf_nst.features",
    "WeightsError": "tf_nst.features",
    "ImageError": "tf_nst.images",
    "read_image": "tf_nst.images",
    "write_image": "tf_nst.images",
    "StyleTransfer": "tf_nst.transfer",
    "stylize": "tf_nst.transfer",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tf_nst' has no attribute {name!r}")
