"""Hostile input: random and mutated image bytes, absurd dimensions and odd flag values.

The only outcomes allowed are a valid image (float32 H x W x 3 in [0, 1]) or a Config, or a
one-line error of the library's own type. The number of cases tried is printed at the end of the
session (see ``pytest_terminal_summary`` in conftest.py).
"""

import io
import struct
import zlib

import numpy as np
import pytest
from absl import flags
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from tests.conftest import FUZZ_CASES
from tf_nst import config as config_lib
from tf_nst import images
from tf_nst.flags import config_from_flags, define_config_flags

# Pillow warns about corrupt TIFF/EXIF tags it skips; the outcome is still checked.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _count(target):
    FUZZ_CASES[target] = FUZZ_CASES.get(target, 0) + 1


def _seeds():
    rng = np.random.default_rng(0)
    pixels = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    out = {}
    for fmt, mode in (("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "I;16"), ("PNG", "P"),
                      ("JPEG", "RGB"), ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "RGB"),
                      ("WEBP", "RGB")):
        im = Image.fromarray(pixels)
        im = im.convert(mode) if mode != "I;16" else Image.fromarray(pixels[..., 0].astype(np.uint16) * 257)
        buf = io.BytesIO()
        im.save(buf, format=fmt)
        out[f"{fmt}-{mode}"] = buf.getvalue()
    return out


SEEDS = _seeds()


def assert_image_or_one_line_error(data, max_pixels=images.DEFAULT_MAX_PIXELS):
    try:
        image = images.decode_image(data, max_pixels=max_pixels, name="fuzz")
    except images.ImageError as err:
        message = str(err)
        assert message.startswith("fuzz: ") and "\n" not in message and len(message) < 500
        return None
    assert isinstance(image, np.ndarray) and image.dtype == np.float32
    assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] * image.shape[1] > 0
    assert image.shape[0] * image.shape[1] <= max_pixels
    assert np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0
    return image


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    _count("decode: random bytes")
    assert_image_or_one_line_error(data)


@st.composite
def mutated(draw):
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_images(data):
    _count("decode: mutated PNG/JPEG/GIF/BMP/TIFF/WEBP")
    assert_image_or_one_line_error(data)


def _png_with_size(width, height):
    """The seed PNG with its IHDR claiming another size (CRC fixed so the header is believed)."""
    data = bytearray(SEEDS["PNG-RGB"])
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


@FUZZ
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_absurd_header_dimensions(width, height):
    _count("decode: absurd header dimensions")
    image = assert_image_or_one_line_error(_png_with_size(width, height), max_pixels=10_000)
    assert image is None or image.shape[:2] == (height, width)


def test_decompression_bomb_is_refused_from_the_header():
    # A real bomb: a 1-bit 30000 x 30000 PNG of 900 million pixels compresses to ~100 kB; decoded as
    # RGB float32 it would need 10.8 GB.
    width = height = 30_000
    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    assert len(data) < 2_000_000
    with pytest.raises(images.ImageError) as err:
        images.decode_image(data, name="bomb.png")
    message = str(err.value)
    assert "too large" in message and "900,000,000 pixels" in message and "--max_pixels" in message
    with pytest.raises(images.ImageError, match="--max_pixels"):
        images.decode_image(_png_with_size(5000, 5000), max_pixels=1_000_000, name="big.png")


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------
ODD_VALUES = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "1e400", "-0", "nan", "inf", "-inf", "1e-320", "1,2,3",
                     ",", ",,", "conv1_1,", "conv9_9", "relu5_4", "pool5", "block1_conv1",
                     "2147483648", "99999999999999999999", "0x10", "1_000", "true", "None",
                     "lbfgs", "adam", "avg", "mixed_float16", "\x00", "é", "../../etc/passwd"]),
    st.text(max_size=20),
    st.integers(-2**40, 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from([f.name for f in config_lib.fields()]), ODD_VALUES),
                min_size=1, max_size=4))
def test_odd_flag_values_give_a_config_or_one_line_error(assignments):
    _count("flags")
    values = flags.FlagValues()
    define_config_flags(values)
    argv = ["tf-nst"] + [f"--{name}={value}" for name, value in assignments]
    try:
        values(argv)
    except flags.Error as err:  # the CLI prints this as one line (tf_nst.usage.flag_parser)
        assert " ".join(str(err).split())
        return
    try:
        config = config_from_flags(values)
    except config_lib.ConfigError as err:
        assert "\n" not in str(err) and str(err).startswith("--")
        return
    assert isinstance(config, config_lib.Config)
    config.validate()
    # Whatever passed validation must be usable: finite weights, positive sizes.
    assert 0 < config.image_size <= 16384 and 0 < config.style_scale < float("inf")
    assert 0 < config.learning_rate < float("inf") and config.num_steps >= 0
    assert all(w >= 0 for w in config.style_layer_weights)
