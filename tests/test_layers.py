import pytest

from tf_nst import layers


@pytest.mark.parametrize("given, keras", [
    ("conv1_1", "block1_conv1"), ("relu4_2", "block4_conv2"), ("conv5_4", "block5_conv4"),
    ("block3_conv4", "block3_conv4"), ("pool2", "block2_pool"), (" conv2_1 ", "block2_conv1"),
])
def test_keras_name_maps_both_notations(given, keras):
    assert layers.keras_name(given) == keras


@pytest.mark.parametrize("bad", ["conv1_3", "conv6_1", "relu2_5", "block1_conv3", "fc7", "", "pool6"])
def test_unknown_layer_names_are_refused(bad):
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        layers.keras_name(bad)


def test_paper_name_round_trip_and_channels():
    for name in layers.KERAS_LAYERS:
        assert layers.keras_name(layers.paper_name(name)) == name
    assert layers.paper_name("block4_conv2") == "conv4_2"
    assert [layers.channels(f"conv{b}_1") for b in range(1, 6)] == [64, 128, 256, 512, 512]
    assert len([n for n in layers.KERAS_LAYERS if "conv" in n]) == 16


def test_deepest_layer():
    assert layers.deepest(["conv1_1", "relu4_2", "conv3_1"]) == "block4_conv2"
    assert layers.deepest(["block5_conv1", "conv4_2"]) == "block5_conv1"


def test_smallest_side_is_two_to_the_poolings_before_the_layer():
    assert [layers.smallest_side(n) for n in ("conv1_1", "conv2_1", "conv3_4", "conv4_2",
                                               "block5_conv1", "pool5")] == [1, 2, 4, 8, 16, 32]
