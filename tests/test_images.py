"""Tests of tf_nst.images: decoding odd but valid files, refusing bad ones, resizing, writing."""

from __future__ import annotations

import io
import os
import stat
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_nst import images
from tf_nst.images import ImageError

EIGHT_BIT = 1 / 255


def _save(path, im: Image.Image, **options) -> str:
    im.save(path, **options)
    return str(path)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` RGB pixels, with no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def _assert_one_line_naming(err: pytest.ExceptionInfo, path) -> str:
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    return message


# --- reading valid images ----------------------------------------------------------------------


def test_rgb_png_round_trips_exactly(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = _save(tmp_path / "rgb.png", Image.fromarray(pixels))
    image = images.read_image(path)
    assert image.dtype == np.float32 and image.shape == (5, 7, 3)
    np.testing.assert_array_equal(image, pixels.astype(np.float32) / 255)


def test_rgba_is_composited_over_white(tmp_path):
    im = Image.new("RGBA", (3, 1))
    im.putdata([(255, 0, 0, 128), (0, 0, 255, 255), (0, 0, 0, 0)])
    image = images.read_image(_save(tmp_path / "rgba.png", im))
    assert image.shape == (1, 3, 3)
    np.testing.assert_allclose(image[0, 0], [1.0, 0.5, 0.5], atol=EIGHT_BIT)  # half red
    np.testing.assert_allclose(image[0, 1], [0.0, 0.0, 1.0], atol=1e-6)  # opaque blue
    np.testing.assert_allclose(image[0, 2], [1.0, 1.0, 1.0], atol=1e-6)  # transparent: white


def test_grey_with_alpha_is_composited_over_white(tmp_path):
    im = Image.new("LA", (1, 1), (0, 128))
    image = images.read_image(_save(tmp_path / "la.png", im))
    np.testing.assert_allclose(image[0, 0], [0.5, 0.5, 0.5], atol=EIGHT_BIT)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_with_transparent_index(tmp_path, suffix):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 0, 128, 255] + [0] * (254 * 3))
    im.putdata([0, 1])
    image = images.read_image(_save(tmp_path / f"p{suffix}", im, transparency=0))
    np.testing.assert_allclose(image[0, 0], [1, 1, 1], atol=1e-6)  # transparent index: white
    np.testing.assert_allclose(image[0, 1], [0, 128 / 255, 1], atol=1e-6)


def test_palette_without_transparency(tmp_path):
    im = Image.new("P", (2, 1))
    im.putpalette([10, 20, 30, 200, 100, 0] + [0] * (254 * 3))
    im.putdata([1, 0])
    image = images.read_image(_save(tmp_path / "p.png", im))
    np.testing.assert_allclose(image[0], np.array([[200, 100, 0], [10, 20, 30]]) / 255, atol=1e-6)


def test_greyscale_and_one_bit(tmp_path):
    grey = images.read_image(_save(tmp_path / "l.png", Image.new("L", (2, 2), 77)))
    np.testing.assert_allclose(grey, np.full((2, 2, 3), 77 / 255), atol=1e-6)
    bits = Image.new("1", (2, 1))
    bits.putdata([0, 255])
    image = images.read_image(_save(tmp_path / "bits.png", bits))
    np.testing.assert_array_equal(image[0], [[0, 0, 0], [1, 1, 1]])


def test_sixteen_bit_png_keeps_its_precision(tmp_path):
    pixels = np.array([[1000, 1001, 65535, 0]], dtype=np.uint16)
    im = Image.fromarray(pixels)
    assert im.mode.startswith("I;16")
    image = images.read_image(_save(tmp_path / "deep.png", im))
    np.testing.assert_allclose(image[..., 0], pixels / 65535, atol=1e-7)
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    assert image[0, 1, 0] > image[0, 0, 0]  # 1000 and 1001 are one 8-bit level: kept apart


def test_thirty_two_bit_integer_and_float_greyscale(tmp_path):
    ints = Image.fromarray(np.array([[30000, 70000, -5]], np.int32))
    assert ints.mode == "I"
    deep = images.read_image(_save(tmp_path / "i.tif", ints))
    np.testing.assert_allclose(deep[0, :, 0], [30000 / 65535, 1.0, 0.0], atol=1e-7)
    floats = np.array([[0.25, 2.0, -1.0]], dtype=np.float32)
    image = images.read_image(_save(tmp_path / "f.tif", Image.fromarray(floats)))
    np.testing.assert_allclose(image[0, :, 1], [0.25, 1.0, 0.0], atol=1e-7)


@pytest.mark.parametrize("cmyk, rgb", [((0, 255, 255, 0), (1, 0, 0)), ((255, 0, 0, 0), (0, 1, 1)),
                                       ((0, 0, 0, 255), (0, 0, 0)), ((0, 0, 0, 0), (1, 1, 1))])
def test_cmyk_jpeg_comes_back_as_its_rgb_colour(tmp_path, cmyk, rgb):
    path = _save(tmp_path / "cmyk.jpg", Image.new("CMYK", (16, 16), cmyk), quality=95)
    assert Image.open(path).mode == "CMYK"
    image = images.read_image(path)
    assert image.shape == (16, 16, 3)
    np.testing.assert_allclose(image[8, 8], rgb, atol=0.03)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("orientation, corner", [(6, (0, -1)), (8, (-1, 0)), (3, (-1, -1))])
def test_exif_orientation_is_applied(tmp_path, suffix, orientation, corner):
    # Stored 32 wide x 16 high, blue with a red 8x8 block in the stored top-left corner.
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[..., 2] = 255
    pixels[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = images.read_image(_save(tmp_path / f"exif{suffix}", Image.fromarray(pixels), exif=exif))
    assert image.shape == ((16, 32, 3) if orientation == 3 else (32, 16, 3))
    red, blue = np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    height, width = image.shape[:2]
    row = 3 if corner[0] == 0 else height - 4  # inside the red block, wherever it should be
    col = 3 if corner[1] == 0 else width - 4
    np.testing.assert_allclose(image[row, col], red, atol=0.1)
    np.testing.assert_allclose(image[height - 1 - row, width - 1 - col], blue, atol=0.1)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_corrupt_exif_still_reads_as_stored(tmp_path):
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12"  # cut short in an entry
    path = _save(tmp_path / "bad_exif.jpg", Image.new("RGB", (4, 2), (0, 0, 255)), exif=exif)
    assert images.read_image(path).shape == (2, 4, 3)


def test_decode_image_from_bytes():
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), (0, 255, 0)).save(buffer, "PNG")
    image = images.decode_image(buffer.getvalue())
    assert image.shape == (2, 3, 3)
    np.testing.assert_array_equal(image[1, 2], [0, 1, 0])


# --- refusing bad images -------------------------------------------------------------------------


def _good_bytes(image_format: str) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(buffer, image_format)
    return buffer.getvalue()


def _corrupt_crc(data: bytes) -> bytes:
    broken = bytearray(data)
    broken[data.index(b"IDAT") + 10] ^= 0xFF
    return bytes(broken)


BAD_FILES = {
    "empty.png": lambda: b"",
    "text.png": lambda: b"just some text, not an image\n",
    "half.jpg": lambda: _good_bytes("JPEG")[: len(_good_bytes("JPEG")) // 2],
    "no_end.jpg": lambda: _good_bytes("JPEG")[:-2],
    "half.png": lambda: _good_bytes("PNG")[: len(_good_bytes("PNG")) // 2],
    "no_iend.png": lambda: _good_bytes("PNG")[:-12],
    "bad_crc.png": lambda: _corrupt_crc(_good_bytes("PNG")),
    "zero_width.png": lambda: _png_header_only(0, 10),
}


@pytest.mark.parametrize("filename", sorted(BAD_FILES))
def test_bad_files_raise_a_one_line_image_error(tmp_path, filename):
    path = tmp_path / filename
    path.write_bytes(BAD_FILES[filename]())
    with pytest.raises(ImageError) as err:
        images.read_image(path)
    _assert_one_line_naming(err, path)


def test_truncated_file_message_says_so(tmp_path):
    path = tmp_path / "cut.jpg"
    data = _good_bytes("JPEG")
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        images.read_image(path)


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageError) as err:
        images.read_image(missing)
    assert "No such file" in _assert_one_line_naming(err, missing)
    with pytest.raises(ImageError) as err:
        images.read_image(tmp_path)
    assert "directory" in _assert_one_line_naming(err, tmp_path)


def test_bomb_header_is_refused_with_size_and_flag(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))  # 10 gigapixels, no pixel data
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as err:
        images.read_image(path)
    message = _assert_one_line_naming(err, path)
    assert "10,000,000,000" in message and "--max_pixels" in message
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_bomb_above_our_limit_but_below_pillows_is_refused(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(12_000, 10_000))  # 120 MP: Pillow only warns
    with pytest.raises(ImageError) as err:
        images.read_image(path)
    message = _assert_one_line_naming(err, path)
    assert "12000x10000" in message and "100,000,000" in message and "--max_pixels" in message


def test_max_pixels_is_checked_before_decoding(tmp_path, monkeypatch):
    path = _save(tmp_path / "small.png", Image.new("RGB", (20, 10)))
    assert images.read_image(path, max_pixels=200).shape == (10, 20, 3)  # the limit is inclusive

    def no_decoding(self):
        raise AssertionError("decoded despite the pixel limit")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(ImageError, match=r"20x10 = 200 pixels.*--max_pixels"):
        images.read_image(path, max_pixels=199)


# --- scaled_size, resize_image, to_uint8 ---------------------------------------------------------


@pytest.mark.parametrize("height, width, longest, expected", [
    (300, 451, 640, (426, 640)),
    (451, 300, 640, (640, 426)),
    (100, 100, 7, (7, 7)),
    (3, 4, 2, (2, 2)),  # 1.5 rounds up
    (1, 1000, 10, (1, 10)),  # never below one pixel
    (640, 480, 640, (640, 480)),
])
def test_scaled_size(height, width, longest, expected):
    assert images.scaled_size(height, width, longest) == expected


@pytest.mark.parametrize("longest", [0, -5])
def test_scaled_size_refuses_non_positive_sides(longest):
    with pytest.raises(ImageError):
        images.scaled_size(10, 10, longest)


def test_resize_shapes_dtype_and_range():
    rng = np.random.default_rng(2)
    image = rng.random((12, 20, 3)).astype(np.float32)
    down = images.resize_image(image, (6, 10))
    assert down.shape == (6, 10, 3) and down.dtype == tf.float32
    batch = images.resize_image(np.stack([image, image]), (24, 40))
    assert batch.shape == (2, 24, 40, 3)
    checker = np.kron(np.indices((4, 4)).sum(0) % 2, np.ones((3, 3)))[..., None].repeat(3, 2)
    up = images.resize_image(checker.astype(np.float32), (48, 48)).numpy()
    assert up.min() >= 0.0 and up.max() <= 1.0  # bicubic overshoot is clipped
    assert up.min() == 0.0 and up.max() == 1.0


def test_resize_keeps_flat_colours_and_scales_uint8():
    flat = np.full((9, 9, 3), 0.3, np.float32)
    for size in [(3, 3), (20, 13)]:
        np.testing.assert_allclose(images.resize_image(flat, size), 0.3, atol=1e-5)
    from_uint8 = images.resize_image(np.full((4, 4, 3), 255, np.uint8), (2, 2))
    np.testing.assert_allclose(from_uint8, 1.0, atol=1e-6)


def test_resize_downscaling_is_antialiased():
    stripes = np.zeros((63, 63, 3), np.float32)
    stripes[:, ::2] = 1.0  # one-pixel stripes: point sampling every 9th pixel sees only 0 or 1
    small = images.resize_image(stripes, (7, 7)).numpy()
    np.testing.assert_allclose(small, 0.5, atol=0.05)


def test_resize_in_tf_function_with_tensor_size():
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                                  tf.TensorSpec([2], tf.int32)])
    def resize(image, size):
        return images.resize_image(image, size)

    out = resize(tf.zeros([1, 10, 16, 3]), tf.constant([5, 8]))
    assert out.shape == (1, 5, 8, 3)
    out = resize(tf.ones([1, 4, 4, 3]), tf.constant([7, 3]))
    assert out.shape == (1, 7, 3, 3)
    np.testing.assert_allclose(out, 1.0, atol=1e-5)


def test_resize_refuses_bad_sizes():
    with pytest.raises(ImageError):
        images.resize_image(np.zeros((4, 4, 3), np.float32), (0, 4))


def test_to_uint8_rounds_and_clips():
    values = np.array([0.0, 0.5, 1 / 255, 0.49 / 255, 0.51 / 255, -1.0, 2.0, 1.0], np.float32)
    image = np.repeat(values[None, :, None], 3, axis=2)
    out = images.to_uint8(image)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 1, 0, 1, 0, 255, 255])


def test_to_uint8_accepts_a_batch_of_one_tensor_and_refuses_bad_shapes():
    out = images.to_uint8(tf.fill([1, 2, 3, 3], 0.2))
    assert out.shape == (2, 3, 3)
    assert (out == 51).all()
    for bad in [np.zeros((2, 2, 2, 3)), np.zeros((2, 2)), np.zeros((2, 2, 4))]:
        with pytest.raises(ImageError):
            images.to_uint8(bad)
    with pytest.raises(ImageError, match="NaN"):
        images.to_uint8(np.full((1, 1, 3), np.nan))


# --- check_output_path and write_image -----------------------------------------------------------


def test_check_output_path(tmp_path):
    for ok in ["out.png", "out.jpg", "out.JPEG", "Out.PnG"]:
        images.check_output_path(tmp_path / ok)
    for bad in ["out.gif", "out"]:
        with pytest.raises(ImageError) as err:
            images.check_output_path(tmp_path / bad)
        assert ".png, .jpg, .jpeg" in _assert_one_line_naming(err, tmp_path / bad)
    missing_parent = tmp_path / "no" / "such" / "out.png"
    with pytest.raises(ImageError, match="does not exist") as err:
        images.check_output_path(missing_parent)
    _assert_one_line_naming(err, missing_parent)
    a_directory = tmp_path / "dir.png"
    a_directory.mkdir()
    with pytest.raises(ImageError, match="is a directory"):
        images.check_output_path(a_directory)


def test_overwrite_false_refuses_an_existing_file(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    images.check_output_path(target, overwrite=True)
    with pytest.raises(ImageError, match="--overwrite") as err:
        images.write_image(target, np.zeros((2, 2, 3)), overwrite=False)
    _assert_one_line_naming(err, target)
    assert target.read_bytes() == b"precious"


def test_write_png_round_trips_exactly(tmp_path):
    pixels = np.random.default_rng(3).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    target = tmp_path / "out.png"
    images.write_image(target, tf.constant(pixels[None] / 255, tf.float32))
    np.testing.assert_array_equal(images.to_uint8(images.read_image(target)), pixels)
    assert os.listdir(tmp_path) == ["out.png"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.parametrize("name", ["out.jpg", "out.JPEG"])
def test_write_jpeg(tmp_path, name):
    colour = np.array([0.8, 0.3, 0.1], np.float32)
    images.write_image(tmp_path / name, np.broadcast_to(colour, (16, 16, 3)))
    with Image.open(tmp_path / name) as written:
        assert written.format == "JPEG" and written.mode == "RGB"
    np.testing.assert_allclose(images.read_image(tmp_path / name)[8, 8], colour, atol=0.02)


def test_failed_write_leaves_the_target_untouched_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(ImageError, match="No space left") as err:
        images.write_image(target, np.zeros((4, 4, 3)))
    _assert_one_line_naming(err, target)
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.png"]

    def crashing_save(self, fp, *args, **kwargs):
        fp.write(b"half an image")
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(Image.Image, "save", crashing_save)
    with pytest.raises(RuntimeError, match="encoder bug"):
        images.write_image(tmp_path / "new.png", np.zeros((4, 4, 3)))
    assert os.listdir(tmp_path) == ["out.png"]


def test_write_replaces_an_existing_file_and_keeps_its_mode(tmp_path):
    target = tmp_path / "out.jpg"
    target.write_bytes(b"old")
    target.chmod(0o640)
    images.write_image(target, np.ones((3, 3, 3)))
    assert target.read_bytes()[:2] == b"\xff\xd8"  # a JPEG now
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
