"""Colour control (tf_nst.color): pure functions, no network."""

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import color


def yiq(image):
    return tf.image.rgb_to_yiq(tf.constant(image, tf.float32)).numpy()


def random_image(seed, shape=(24, 32), mean=(0.5, 0.5, 0.5), spread=0.15):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(3, 3)) * spread / 2
    pixels = rng.normal(size=shape + (3,)) @ mix + np.asarray(mean)
    return np.clip(pixels, 0, 1).astype(np.float32)


def test_original_colors_keeps_the_contents_chroma_and_the_results_luminance():
    stylised = random_image(1, mean=(0.5, 0.45, 0.4))
    content = random_image(2, shape=(48, 64), mean=(0.45, 0.5, 0.55))
    out = color.original_colors(stylised, content).numpy()
    assert out.shape == stylised.shape
    content_small = tf.image.resize(content[None], (24, 32), method="bicubic",
                                    antialias=True)[0].numpy()
    np.testing.assert_allclose(yiq(out)[..., 1:], yiq(content_small)[..., 1:], atol=2e-3)
    np.testing.assert_allclose(yiq(out)[..., 0], yiq(stylised)[..., 0], atol=2e-3)
    # Batched input gives the same answer.
    batched = color.original_colors(stylised[None], content[None]).numpy()[0]
    np.testing.assert_allclose(batched, out, atol=1e-6)


def test_histogram_matching_moves_the_styles_mean_and_covariance_to_the_contents():
    style = random_image(3, mean=(0.3, 0.5, 0.6), spread=0.04)
    content = random_image(4, shape=(40, 40), mean=(0.55, 0.45, 0.4), spread=0.05)
    out = color.match_color_histogram(style, content).numpy()
    assert out.shape == style.shape
    s, c = out.reshape(-1, 3), content.reshape(-1, 3)
    np.testing.assert_allclose(s.mean(0), c.mean(0), atol=2e-3)
    np.testing.assert_allclose(np.cov(s.T, bias=True), np.cov(c.T, bias=True), atol=2e-4)
    # Before matching they were far apart.
    assert np.abs(style.reshape(-1, 3).mean(0) - c.mean(0)).max() > 0.1


def test_luminance_matching_matches_mean_and_spread_of_y_and_keeps_style_chroma():
    style = random_image(5, mean=(0.3, 0.35, 0.4), spread=0.05)
    content = random_image(6, mean=(0.6, 0.6, 0.55), spread=0.12)
    out = color.match_luminance(style, content).numpy()
    y_out, y_c = yiq(out)[..., 0], yiq(content)[..., 0]
    assert y_out.mean() == pytest.approx(y_c.mean(), abs=2e-3)
    assert y_out.std() == pytest.approx(y_c.std(), abs=2e-3)
    np.testing.assert_allclose(yiq(out)[..., 1:], yiq(style)[..., 1:], atol=2e-3)


def test_match_color_none_is_identity_and_unknown_mode_fails():
    style, content = random_image(7), random_image(8, mean=(0.6, 0.4, 0.3))
    np.testing.assert_array_equal(color.match_color(style, content, "none").numpy(), style)
    assert np.abs(color.match_color(style, content, "histogram").numpy() - style).max() > 0.01
    with pytest.raises(ValueError):
        color.match_color(style, style, "sepia")
