"""Shared fixtures: test images (the bundled examples and one the tests make), and the real VGG19
weights when they can be had.

Tests that need the weights skip with a reason on a developer machine without them; under CI
(``CI=true``) a missing file is an error instead, so CI never silently skips them.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_tool(name: str):
    """The script ``tools/<name>.py`` imported as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLES = ROOT / "examples"


def made_style(height: int = 128, width: int = 96) -> np.ndarray:
    """A second style the tests make, unlike examples/style.jpg: bold red/blue waves with thin
    stripes on a portrait canvas, ``height x width x 3`` uint8."""
    y, x = np.mgrid[:height, :width] / 6.0
    wave = np.tanh(3 * np.sin(x + 2 * np.sin(y / 3)) * np.cos(y / 2 - x / 4))
    stripes = np.sin(3 * (x + y))
    rgb = np.stack([0.55 + 0.45 * wave, 0.4 + 0.3 * stripes, 0.5 - 0.45 * wave], axis=-1)
    return (rgb.clip(0, 1) * 255).round().astype(np.uint8)


def precision_flags(precision: str) -> list[str]:
    """The command's flags for ``precision``: none where ``--precision=auto`` (the default, what
    users run) resolves to it on this machine, else the explicit flag."""
    from tf_nst.config import Config
    return [] if Config().compute_precision == precision else [f"--precision={precision}"]


def load_small(path: os.PathLike, size: int) -> np.ndarray:
    """The image at ``path`` as a float array in [0, 1], ``size`` px on its longest side."""
    from PIL import Image
    image = Image.open(path).convert("RGB")
    image.thumbnail((size, size), Image.LANCZOS)
    return np.asarray(image, np.float32) / 255.0


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
def image_files(tmp_path_factory) -> pathlib.Path:
    """A folder of test images: ``cat.png`` (examples/content.png cropped to 4:3, 400 x 300),
    ``galaxies.jpg`` (examples/style.jpg as it is) and ``waves.png`` (:func:`made_style`)."""
    from PIL import Image
    folder = tmp_path_factory.mktemp("images")
    Image.open(EXAMPLES / "content.png").convert("RGB").crop((25, 0, 425, 300)).save(
        folder / "cat.png")
    shutil.copyfile(EXAMPLES / "style.jpg", folder / "galaxies.jpg")
    Image.fromarray(made_style()).save(folder / "waves.png")
    return folder


@pytest.fixture(scope="session")
def small_pair(image_files, vgg_weights):
    """The cat (64 x 48) and the deep field (64 x 56) as float arrays, for tests that run the
    network (hence the weights requirement)."""
    return load_small(image_files / "cat.png", 64), load_small(image_files / "galaxies.jpg", 64)


# Fuzz cases tried per target, filled by tests/test_fuzz.py and reported after the run.
FUZZ_CASES: dict[str, int] = {}


def pytest_terminal_summary(terminalreporter):
    if FUZZ_CASES:
        counts = ", ".join(f"{name}: {n}" for name, n in sorted(FUZZ_CASES.items()))
        terminalreporter.write_line(f"fuzz cases tried: {sum(FUZZ_CASES.values())} ({counts})")
