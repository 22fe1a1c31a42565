"""Large images: the tile grid, the blend weights, tiled runs without seams, flags and memory."""

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import Config, StyleTransfer, resources, tiling
from tf_nst.config import ConfigError
from tf_nst.export import Limits, check_exportable
from tf_nst.objective import LossWeights
from tests.test_batch import PRECISIONS
from tests.test_cli import error_lines, inputs  # noqa: F401  (inputs is a fixture)
from tests.in_process import tf_nst as run_cli

GRIDS = [(96, 80, 64, 16), (72, 96, 64, 16), (300, 500, 128, 32), (130, 64, 64, 31),
         (64, 64, 64, 16), (40, 200, 64, 0), (1000, 1000, 256, 64), (4096, 3072, 1024, 64)]


@pytest.mark.parametrize("height,width,tile,overlap", GRIDS)
def test_tiles_cover_every_pixel_inside_the_image_with_the_overlap_asked(height, width, tile,
                                                                        overlap):
    boxes = tiling.tile_boxes(height, width, tile, overlap)
    covered = np.zeros((height, width), int)
    for box in boxes:
        assert box.top >= 0 and box.left >= 0
        assert box.top + box.height <= height and box.left + box.width <= width
        assert (box.height, box.width) == (min(tile, height), min(tile, width))
        covered[box.slices] += 1
    assert covered.min() >= 1
    for length in (height, width):
        starts, size = tiling.tile_starts(length, tile, overlap), min(tile, length)
        shared = [a + size - b for a, b in zip(starts, starts[1:])]
        assert all(s >= overlap for s in shared), shared
        # The fewest tiles: one less could not cover the side with that overlap.
        assert len(starts) == 1 or (len(starts) - 1) * (size - overlap) + overlap < length


@pytest.mark.parametrize("height,width,tile,overlap", GRIDS[:7])
def test_blend_weights_are_a_partition_of_unity(height, width, tile, overlap):
    boxes = tiling.tile_boxes(height, width, tile, overlap)
    weights = tiling.blend_weights(height, width, tile, overlap)
    total = np.zeros((height, width))
    for box, weight in zip(boxes, weights):
        assert weight.shape == (box.height, box.width) and weight.min() >= 0
        total[box.slices] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    if len(boxes) > 1 and overlap:  # a tile's edge inside the image gets little weight
        first = weights[0]
        inner_edge = first[:, -1] if boxes[1].top == 0 else first[-1, :]
        assert inner_edge.max() <= 1.0 / overlap


def test_every_tile_gets_the_scales_steps_over_the_sweeps():
    visits = tiling.visit_schedule(4, 7, 2)
    assert visits == [(0, 3), (1, 3), (2, 3), (3, 3), (0, 4), (1, 4), (2, 4), (3, 4)]
    assert tiling.visit_schedule(3, 1, 2) == [(0, 1), (1, 1), (2, 1)]
    assert tiling.visit_schedule(3, 0, 2) == []


class _Paint:
    """A stand-in stepper: a tile's state is its image, which the test's steps paint."""

    def begin(self, content, start, grams, masks):
        return (), start

    def image(self, state):
        return state

    def local_indices(self, count):
        return list(range(count))


def _painted(height, width, tile, overlap, value, sweeps=1) -> np.ndarray:
    start = tf.zeros([1, height, width, 3])
    scale = tiling.TiledScale(start, start, (), None, _Paint(), 2, tile, overlap, sweeps)
    weights = LossWeights(*(tf.constant(1.0),) * 5)

    def step(state, targets, weights):
        box = scale.boxes[scale.tile]
        return tf.fill(tf.shape(state), float(value(box.top, box.left))), {}

    for _ in range(len(scale.visits) * 2):
        scale.step(step, weights)
    return scale.image()[0].numpy()


def test_tiles_that_agree_give_exactly_their_value_everywhere():
    # Every tile turns its crop to 0.7: the blended image is 0.7 everywhere, overlaps included
    # (weights summing to 1; a tile started from its neighbour's result would leave a band).
    image = _painted(150, 110, 64, 16, lambda top, left: 0.7)
    np.testing.assert_allclose(image, 0.7, atol=1e-6)


def test_tiles_that_disagree_are_cross_faded_without_a_step():
    # Neighbouring tiles paint 0 and 1 alternately: the image changes by at most ~1/overlap per
    # pixel across the overlaps (pasting the tiles would jump by 1).
    boxes = tiling.tile_boxes(150, 150, 64, 16)
    parity = {(b.top, b.left): (i % 3 + i // 3) % 2 for i, b in enumerate(boxes)}  # 3 x 3
    image = _painted(150, 150, 64, 16, lambda top, left: parity[(top, left)])[..., 0]
    assert image.min() == pytest.approx(0.0, abs=1e-6) and image.max() == pytest.approx(1.0)
    jumps = max(np.abs(np.diff(image, axis=0)).max(), np.abs(np.diff(image, axis=1)).max())
    assert jumps <= 1.5 / 16, jumps


def _tiled_run(content, style, **changes) -> StyleTransfer:
    config = Config(image_size=96, tile_size=64, tile_overlap=16, **changes)
    return StyleTransfer(content, style, config)


def test_a_flat_image_stays_flat_across_tile_borders(vgg_weights):
    flat = np.ones((72, 96, 3), np.float32) * np.array([0.4, 0.5, 0.6], np.float32)
    st = _tiled_run(flat, flat, num_steps=4)
    assert len(st.tiles.boxes) == 4
    out = st.run()
    assert out.shape == flat.shape
    assert np.abs(out - flat).max() < 2.0 / 255
    # No step at the tile borders (columns 32-63 and rows 8-63 are overlaps) nor anywhere else.
    assert np.abs(np.diff(out, axis=0)).max() < 1.0 / 255
    assert np.abs(np.diff(out, axis=1)).max() < 1.0 / 255


@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_tiled_run_lowers_the_whole_images_loss_without_seams(vgg_weights, small_pair,
                                                                precision):
    content, style = small_pair
    content = tf.image.resize(content, (72, 96)).numpy()
    st = _tiled_run(content, style, num_steps=4, tile_sweeps=1, precision=precision)
    judge = StyleTransfer(content, style, st.config.replace(tile_size=0, num_steps=0))

    def loss(image):
        return float(judge.objective.loss_terms(tf.constant(image[None]), judge.targets,
                                                judge.weights)["total"][0])

    before = loss(st.image)
    out = st.run()
    assert st.steps_done == 4 and out.shape == content.shape
    assert loss(out) < 0.9 * before
    # The change the run made is no rougher across the tile borders than elsewhere.
    change = np.abs(np.diff(out - content, axis=1)).mean(axis=(0, 2))
    borders = [b.left + b.width - 1 for b in st.tiles.boxes if b.left + b.width < 96]
    borders += [b.left - 1 for b in st.tiles.boxes if b.left > 0]
    assert change[borders].mean() < 3.0 * change.mean(), (change[borders], change.mean())


@pytest.mark.parametrize("changes,flag", [
    (dict(tile_size=32), "--tile_size"), (dict(tile_size=-2), "--tile_size"),
    (dict(tile_size=128, tile_overlap=64), "--tile_overlap"),
    (dict(tile_overlap=-1), "--tile_overlap"), (dict(tile_sweeps=0), "--tile_sweeps")])
def test_bad_tiling_values_give_one_line_naming_the_flag(changes, flag):
    with pytest.raises(ConfigError) as err:
        Config(**changes)
    assert str(err.value).startswith(flag) and "\n" not in str(err.value)


def test_tiles_take_their_crop_of_the_masks_and_exports_refuse_tiling(small_pair):
    content, style = small_pair
    config = Config(image_size=96, tile_size=64, tile_overlap=16, num_steps=2,
                    optimizer="adam", precision="float32")
    keep = np.zeros((8, 8))
    keep[:, :4] = 1.0  # the left half stays the photo
    st = StyleTransfer(content, style, config, content_mask=keep)
    assert st.tiles is not None and len(st.tiles.boxes) == 4
    image = st.run()
    photo = st.current_content[0].numpy()
    np.testing.assert_allclose(image[:, :40], photo[:, :40], atol=1e-6)
    assert np.abs(image[:, 56:] - photo[:, 56:]).mean() > 1e-3
    # The right half had no style guidance removed: it moved like an unmasked tiled run's.
    free = StyleTransfer(content, style, config).run()
    assert np.abs(image[:, 56:] - free[:, 56:]).mean() < np.abs(free[:, 56:] - photo[:, 56:]).mean()
    with pytest.raises(ConfigError, match="--tile_size=64: not with an exported SavedModel"):
        check_exportable(config, Limits())
    check_exportable(config.replace(tile_size=0), Limits())
    # Nothing is larger than a tile: no tiling.
    assert not Config(image_size=64, tile_size=64, tile_overlap=16).tiling


def test_4096_px_fits_24_gb_with_tiles_and_the_refusal_suggests_them():
    untiled = Config(image_size=4096)
    tiled = untiled.replace(tile_size=1024)
    args = (3072, 4096, 2560, 4096)
    assert resources.estimate(untiled, *args).total > 24e9
    assert resources.estimate(tiled, *args).total < 16e9
    assert resources.check(tiled, *args[:2], 20e9, *args[2:]).total < 20e9
    with pytest.raises(resources.ResourceError, match="--tile_size=2048 fits") as err:
        resources.check(untiled, *args[:2], 20e9, *args[2:])
    assert "\n" not in str(err.value)


def test_the_cli_runs_tiled(inputs, tmp_path, vgg_weights):  # noqa: F811
    out = tmp_path / "out.png"
    result = run_cli(f"--content={inputs / 'content.png'}", f"--style={inputs / 'style.jpg'}",
                     "--image_size=80", "--tile_size=64", "--tile_overlap=16", "--num_steps=2",
                     f"--output={out}")
    assert result.returncode == 0, result.stderr
    assert "in tiles of 64 px at 80 px" in result.stderr
    from PIL import Image
    assert Image.open(out).size == (80, 60)


@pytest.mark.parametrize("mean, factor", [(True, 1.0), (False, 150 * 110 / 64 ** 2)])
def test_tile_weights_keep_the_images_balance_in_either_loss_form(mean, factor):
    # Mean-form losses hold per position already; sums shrink with the tile and are scaled back.
    start = tf.zeros([1, 150, 110, 3])
    scale = tiling.TiledScale(start, start, (), None, _Paint(), 2, 64, 16, 1, mean=mean)
    weights = scale.tile_weights(LossWeights(*(tf.constant(2.0),) * 5))
    assert float(weights.content) == pytest.approx(2.0 * factor)
    assert float(weights.tv) == pytest.approx(2.0 * factor)
    assert float(weights.style) == 2.0
