"""The normalised VGG19 (Gatys et al. 2016, Sec. 2) and the two formulations of the objective."""

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import Config, layers, normalization
from tf_nst.features import FeatureExtractor
from tf_nst.objective import Objective

from tests.conftest import EXAMPLES, load_small

STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def test_factors_cover_every_convolution_with_positive_means():
    table = normalization.factors()
    convs = [n for n in layers.KERAS_LAYERS if "conv" in n]
    assert sorted(table) == sorted(convs)
    for name in convs:
        assert table[name].shape == (layers.channels(name),)
        assert np.all(normalization.inverse_factors(name) > 0)
        assert np.all(np.isfinite(normalization.inverse_factors(name)))


def test_floor_bounds_the_multiplier_of_a_nearly_silent_filter():
    mean = normalization.factors()["block2_conv1"]
    inverse = normalization.inverse_factors("conv2_1")
    assert inverse.max() <= 1.0 / (normalization.FLOOR * np.median(mean)) * (1 + 1e-6)
    busy = mean >= normalization.FLOOR * np.median(mean)
    np.testing.assert_allclose(inverse[busy], 1.0 / mean[busy], rtol=1e-6)


@pytest.fixture(scope="module")
def extractor(vgg_weights):
    return FeatureExtractor(("conv4_2",) + STYLE, weights=vgg_weights, precision="float32")


def test_authors_features_are_raw_features_over_the_factors(extractor):
    image = tf.random.stateless_uniform([1, 32, 32, 3], seed=[4, 2])
    raw = extractor(image)
    authors = Objective(extractor, ["conv4_2"], STYLE, "authors").features(image)
    printed = Objective(extractor, ["conv4_2"], STYLE, "printed").features(image)
    for name in raw:
        np.testing.assert_array_equal(printed[name].numpy(), raw[name].numpy())
        np.testing.assert_allclose(authors[name].numpy(),
                                   raw[name].numpy() * normalization.inverse_factors(name),
                                   rtol=1e-6)


def test_held_out_photo_has_filter_means_near_one(extractor):
    """The bundled content photo was not used to fit the factors: in the normalised network its
    filters' mean activations centre on 1 in every layer (a single photo spreads them widely)."""
    photo = tf.constant(load_small(EXAMPLES / "content.png", 256)[None])
    features = Objective(extractor, ["conv4_2"], STYLE).features(photo)
    for name, fmap in features.items():
        means = fmap.numpy().mean(axis=(0, 1, 2))
        assert 0.4 < np.median(means) < 2.5, (name, np.median(means))
        assert 0.4 < means.mean() < 2.5, (name, means.mean())


def test_formulation_is_a_validated_config_field():
    assert Config().formulation == "authors"
    with pytest.raises(ValueError, match="--formulation=sums: must be one of"):
        Config(formulation="sums")
