"""Creative controls: several styles, spatial masks, colour control, TensorBoard logging."""

import glob

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_nst import Config, StyleTransfer, losses
from tf_nst.config import ConfigError
from tf_nst.objective import layer_masks
from tests.conftest import load_small
from tests.in_process import tf_nst

TINY = dict(image_size=32, num_steps=15)


# --- pure maths (no network) --------------------------------------------------------------------

def test_blended_targets_have_the_gradient_of_the_weighted_sum_of_style_losses():
    rng = np.random.default_rng(0)
    fmap = tf.constant(rng.random((1, 6, 5, 4)), tf.float32)
    per_position = tf.constant(rng.random((3, 1, 4, 4)), tf.float32)
    blend = tf.constant([0.2, 0.3, 0.5])
    positions = 30

    def weighted_sum(f):
        gram = losses.gram_matrix(f)
        return sum(blend[s] * losses.style_layer_loss(gram, per_position[s] * positions, positions)
                   for s in range(3))

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(fmap)
        blended = losses.blended_style_layer_loss(fmap, per_position, blend)
        reference = weighted_sum(fmap)
    np.testing.assert_allclose(tape.gradient(blended, fmap), tape.gradient(reference, fmap),
                               rtol=1e-4, atol=1e-7)
    # The values differ by the (non-negative) spread of the targets only.
    assert float(reference[0]) >= float(blended[0])


def test_guided_loss_with_a_full_mask_is_the_plain_style_loss():
    rng = np.random.default_rng(1)
    fmap = tf.constant(rng.random((2, 6, 5, 4)), tf.float32)
    per_position = tf.constant(rng.random((1, 2, 4, 4)), tf.float32)
    plain = losses.blended_style_layer_loss(fmap, per_position, tf.ones([1]))
    guided = losses.guided_style_layer_loss(fmap, per_position, tf.ones([1]),
                                            tf.ones([1, 2, 6, 5, 1]))
    np.testing.assert_allclose(guided, plain, rtol=1e-5)
    # Two complementary halves, each matched to the same style, weigh as much as the whole
    # (exactly so when every position has the same features, so each half has the whole's Gram).
    uniform = tf.tile(tf.constant(rng.random((2, 1, 1, 4)), tf.float32), [1, 6, 5, 1])
    half = np.zeros([2, 2, 6, 5, 1], np.float32)
    half[0, :, :3], half[1, :, 3:] = 1, 1
    split = losses.guided_style_layer_loss(uniform, tf.concat([per_position] * 2, 0),
                                           tf.constant([0.5, 0.5]), tf.constant(half))
    whole = losses.blended_style_layer_loss(uniform, per_position, tf.ones([1]))
    np.testing.assert_allclose(split, whole, rtol=1e-5)


def test_masks_are_resized_to_each_layers_resolution():
    masks = tf.ones([2, 1, 37, 50, 1])
    assert layer_masks(masks, "conv1_1").shape == (2, 1, 37, 50, 1)
    assert layer_masks(masks, "conv3_1").shape == (2, 1, 9, 12, 1)   # 37 // 4, 50 // 4
    assert layer_masks(masks, "conv5_1").shape == (2, 1, 2, 3, 1)
    half = np.zeros([1, 1, 8, 8, 1], np.float32)
    half[..., :4, :] = 1
    np.testing.assert_allclose(layer_masks(half, "conv2_1")[0, 0, :, :, 0],
                               [[1, 1, 0, 0]] * 4)


def test_blend_weights_are_validated_and_normalised():
    config = Config(style_blend_weights="3,7")
    assert config.resolved_style_blend_weights(2) == pytest.approx((0.3, 0.7))
    assert Config().resolved_style_blend_weights(4) == (0.25,) * 4
    with pytest.raises(ConfigError, match="--style_blend_weights"):
        config.resolved_style_blend_weights(3)
    for bad in ("-1,2", "0,0", "inf,1"):
        with pytest.raises(ConfigError, match="--style_blend_weights"):
            Config(style_blend_weights=bad)
    with pytest.raises(ConfigError, match="--color_transfer"):
        Config(color_transfer="sepia")


# --- with the network ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_styles(image_files):
    return load_small(image_files / "galaxies.jpg", 48), load_small(image_files / "waves.png", 48)


def style_distance(st, image, which):
    onehot = [0.0, 0.0]
    onehot[which] = 1.0
    weights = st.weights._replace(style_blend=tf.constant(onehot))
    terms = st.objective.loss_terms(tf.constant(image[None]), st.targets, weights)
    return float(terms["style"][0])


def test_blend_weights_move_the_result_monotonically_between_two_styles(
        small_pair, two_styles, vgg_weights):
    content, _ = small_pair
    distances = []
    for blend in ((1, 0), (1, 1), (0, 1)):
        st = StyleTransfer(content, list(two_styles), Config(style_blend_weights=blend, **TINY))
        image = st.run()
        distances.append((style_distance(st, image, 0), style_distance(st, image, 1)))
    to_a, to_b = zip(*distances)
    assert to_a[0] < to_a[1] < to_a[2], distances
    assert to_b[0] > to_b[1] > to_b[2], distances


def test_single_style_in_a_list_is_the_single_style(small_pair, vgg_weights):
    content, style = small_pair
    one = StyleTransfer(content, style, Config(**TINY))
    listed = StyleTransfer(content, [style], Config(**TINY))
    assert one.step(3)["total"] == pytest.approx(listed.step(3)["total"], rel=1e-6)
    assert one.targets.style_gram_per_position[0].shape[0] == 1  # the style axis


def textures(size=48):
    rng = np.random.default_rng(0)
    noise = rng.random((size, size, 1)).astype(np.float32)
    red = np.concatenate([0.6 + 0.4 * noise, 0.1 * noise, 0.1 * noise], -1)
    blue = np.concatenate([0.1 * noise, 0.2 * noise, 0.6 + 0.4 * noise], -1)
    return red, blue


def test_style_masks_keep_each_region_in_its_own_style(vgg_weights):
    red, blue = textures()
    content = np.full((32, 32, 3), 0.5, np.float32)
    left = np.zeros((32, 32), np.float32)
    left[:, :16] = 1

    def redness_left_minus_right(masks):
        st = StyleTransfer(content, [red, blue], Config(style_weight=1e5, **TINY),
                           style_masks=masks)
        image = st.run()
        redness = image[..., 0] - image[..., 2]
        # Away from the border (receptive fields straddle it).
        return redness[:, :12].mean() - redness[:, 20:].mean()

    assert redness_left_minus_right([left, 1 - left]) > 0.1
    assert redness_left_minus_right([1 - left, left]) < -0.1


def test_content_mask_keeps_the_region_unstylised(small_pair, vgg_weights):
    content, style = small_pair
    mask = np.zeros((48, 64), np.float32)
    mask[:, :32] = 1
    st = StyleTransfer(content, style, Config(**TINY), content_mask=mask)
    image = st.run()
    kept = st.content[0].numpy()
    np.testing.assert_allclose(image[:, :12], kept[:, :12], atol=1e-6)  # 32 px: mask is 12 px
    assert np.abs(image[:, 14:] - kept[:, 14:]).mean() > 0.02


def test_original_colors_output_has_the_contents_chroma(small_pair, vgg_weights):
    content, style = small_pair
    st = StyleTransfer(content, style, Config(original_colors=True, **TINY))
    image = st.run()
    out_iq = tf.image.rgb_to_yiq(image).numpy()[..., 1:]
    content_iq = tf.image.rgb_to_yiq(st.content[0]).numpy()[..., 1:]
    raw_iq = tf.image.rgb_to_yiq(st.raw_image).numpy()[..., 1:]
    assert np.abs(out_iq - content_iq).mean() < 0.01 < np.abs(raw_iq - content_iq).mean()


def test_color_transfer_matches_the_styles_colours_before_the_transfer(small_pair, vgg_weights):
    content, style = small_pair
    st = StyleTransfer(content, style, Config(color_transfer="histogram", num_steps=0,
                                              image_size=32))
    means = st.style[0].numpy().reshape(-1, 3).mean(0), st.content[0].numpy().reshape(-1, 3).mean(0)
    assert np.abs(means[0] - means[1]).max() < 0.03
    assert np.abs(style.reshape(-1, 3).mean(0) - means[1]).max() > 0.05


def test_cli_two_styles_masks_and_tensorboard_logs(tmp_path, vgg_weights):
    red, blue = textures()
    Image.fromarray((red * 255).astype(np.uint8)).save(tmp_path / "red.png")
    Image.fromarray((blue * 255).astype(np.uint8)).save(tmp_path / "blue.png")
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255
    Image.fromarray(mask).save(tmp_path / "left.png")
    Image.fromarray(255 - mask).save(tmp_path / "right.png")
    logdir = tmp_path / "logs"
    result = tf_nst(f"--content={tmp_path / 'grey.png'}",
                    f"--style={tmp_path / 'red.png'},{tmp_path / 'blue.png'}",
                    "--style_blend_weights=3,7", f"--style_masks={tmp_path / 'left.png'},"
                    f"{tmp_path / 'right.png'}", f"--output={tmp_path / 'out.png'}",
                    "--image_size=32", "--num_steps=4", "--save_every=2", f"--logdir={logdir}")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out.png").size == (32, 32)
    scalars, images = {}, set()
    for path in glob.glob(str(logdir / "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    images.add(event.step)
                else:
                    scalars.setdefault(value.tag, []).append(event.step)
    assert {"total", "content", "style", "tv", "style/conv1_1", "content/conv4_2"} <= set(scalars)
    assert scalars["total"] == [1, 2, 3, 4]
    assert images == {2, 4}


def test_one_mask_per_style_is_required(vgg_weights):
    red, blue = textures()
    with pytest.raises(ConfigError, match="--style_masks"):
        StyleTransfer(red, [red, blue], Config(image_size=32), style_masks=[red])
