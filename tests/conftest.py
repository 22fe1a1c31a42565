"""Shared fixtures: the shared test images, and the real VGG19 weights when they can be had.

Tests that need the weights skip with a reason on a developer machine without them; under CI
(``CI=true``) a missing file is an error instead, so CI never silently skips them.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_tool(name: str):
    """The script ``tools/<name>.py`` imported as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHARED_IMAGES = pathlib.Path(os.environ.get("TF_NST_SHARED_IMAGES", ROOT.parent / "shared" / "images"))


def _weights_available() -> bool:
    from tf_nst.features import cached_weights_path
    return os.path.isfile(cached_weights_path())


def _require(ok: bool, reason: str) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def vgg_weights() -> str:
    """'imagenet' when Keras' cache has the VGG19 weights (CI copies them there)."""
    _require(_weights_available(), "VGG19 weights not in the Keras cache (~/.keras/models)")
    return "imagenet"


@pytest.fixture(scope="session")
def shared_images() -> pathlib.Path:
    _require((SHARED_IMAGES / "tubingen.jpg").is_file(), f"shared test images not at {SHARED_IMAGES}")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def small_pair(shared_images, vgg_weights):
    """The paper's content photo and Starry Night as float arrays at 64 px (longest side), for
    tests that run the network (hence the weights requirement)."""
    from PIL import Image

    def load(name: str, size: int) -> np.ndarray:
        image = Image.open(shared_images / name).convert("RGB")
        image.thumbnail((size, size), Image.LANCZOS)
        return np.asarray(image, np.float32) / 255.0

    return load("tubingen.jpg", 64), load("starry_night.jpg", 64)


# Fuzz cases tried per target, filled by tests/test_fuzz.py and reported after the run.
FUZZ_CASES: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter):
    if FUZZ_CASES:
        counts = ", ".join(f"{name}: {n}" for name, n in sorted(FUZZ_CASES.items()))
        terminalreporter.write_line(f"fuzz cases tried: {sum(FUZZ_CASES.values())} ({counts})")
