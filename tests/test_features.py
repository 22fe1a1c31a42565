"""The VGG19 extractor with the real ImageNet weights."""

import contextlib

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import features
from tf_nst.features import FeatureExtractor, WeightsError


@pytest.fixture(scope="module")
def extractor(vgg_weights):
    return FeatureExtractor(["conv4_2", "conv1_1", "relu3_1"], weights=vgg_weights)


def test_outputs_per_layer_with_vgg_shapes(extractor):
    maps = extractor(tf.zeros([2, 64, 48, 3]))
    assert set(maps) == {"block1_conv1", "block3_conv1", "block4_conv2"}
    assert maps["block1_conv1"].shape == (2, 64, 48, 64)
    assert maps["block3_conv1"].shape == (2, 16, 12, 256)
    assert maps["block4_conv2"].shape == (2, 8, 6, 512)


def test_network_is_cut_after_the_deepest_layer(extractor):
    names = [layer.name for layer in extractor.model.layers]
    assert names[-1] == "block4_conv2"
    assert not any(n.startswith("block5") or n in ("block4_conv3", "block4_pool") for n in names)
    # Weights up to conv4_2 only: 10 convolutions, kernel and bias each.
    assert len(extractor.variables) == 20
    assert all(isinstance(v, tf.Variable) for v in extractor.variables)


def test_preprocessing_matches_keras_caffe_convention(extractor):
    import keras
    rgb = np.random.default_rng(0).uniform(0, 1, (1, 8, 8, 3)).astype(np.float32)
    expected = keras.applications.vgg19.preprocess_input(rgb * 255.0)
    np.testing.assert_allclose(features.caffe_preprocess(rgb).numpy(), expected, atol=1e-3)
    # Keras' own function modifies its argument in place; ours must not.
    copy = rgb.copy()
    features.caffe_preprocess(rgb)
    np.testing.assert_array_equal(rgb, copy)


def test_features_match_keras_vgg19_on_a_photo(extractor, small_pair):
    import keras
    content = small_pair[0][None]
    vgg = keras.applications.VGG19(include_top=False, weights="imagenet")
    reference = keras.Model(vgg.input, vgg.get_layer("block4_conv2").output)
    expected = reference(keras.applications.vgg19.preprocess_input(content * 255.0))
    np.testing.assert_allclose(extractor(content)["block4_conv2"].numpy(), expected.numpy(),
                               rtol=1e-4, atol=1e-3)


def test_average_pooling_keeps_weights_and_changes_deeper_maps(extractor, vgg_weights):
    avg = FeatureExtractor(["conv4_2", "conv1_1", "relu3_1"], pooling="avg", weights=vgg_weights)
    assert any("avgpool" in layer.name for layer in avg.model.layers)
    assert not any(isinstance(l, __import__("keras").layers.MaxPooling2D) for l in avg.model.layers)
    image = tf.random.stateless_uniform([1, 32, 32, 3], seed=[1, 1])
    a, m = avg(image), extractor(image)
    np.testing.assert_allclose(a["block1_conv1"].numpy(), m["block1_conv1"].numpy(), atol=1e-5)
    assert not np.allclose(a["block4_conv2"].numpy(), m["block4_conv2"].numpy())


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_layer_by_layer_maps_and_gradient_equal_the_keras_model(vgg_weights, pooling):
    """The extractor computes the maps itself (input gradients as forward convolutions of flipped
    kernels); they and the image gradient must be the Keras model's."""
    ex = FeatureExtractor(["conv1_1", "conv2_1", "conv4_2"], pooling=pooling, weights=vgg_weights)
    image = tf.random.stateless_uniform([2, 37, 30, 3], seed=[3, 4])
    probe = {name: tf.random.stateless_normal([2, *shape[1:]], seed=[i, 9])
             for i, (name, shape) in enumerate(
                 (n, t.shape) for n, t in ex.model(features.caffe_preprocess(image)).items())}

    def loss_and_gradient(compute):
        with tf.GradientTape() as tape:
            tape.watch(image)
            maps = compute(image)
            loss = sum(tf.reduce_sum(maps[n] * probe[n]) for n in probe)
        return maps, tape.gradient(loss, image)

    ours, our_grad = loss_and_gradient(ex)
    keras_maps, keras_grad = loss_and_gradient(
        lambda x: ex.model(features.caffe_preprocess(x), training=False))
    for name in probe:
        np.testing.assert_allclose(ours[name].numpy(), keras_maps[name].numpy(),
                                   rtol=1e-5, atol=1e-3)
    scale = np.abs(keras_grad.numpy()).max()
    assert scale > 0
    np.testing.assert_allclose(our_grad.numpy(), keras_grad.numpy(), atol=1e-5 * scale)


def test_conv_gradient_as_a_flipped_forward_convolution_is_exact_on_small_tensors():
    rng = np.random.default_rng(5)
    x = tf.constant(rng.normal(size=(1, 5, 4, 16)), tf.float32)
    kernel = tf.constant(rng.normal(size=(3, 3, 16, 2)), tf.float32)
    bias = tf.constant([0.1, -0.2], tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = features.conv3x3_relu(x, kernel, bias)
        reference = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-6)
    dy = tf.constant(rng.normal(size=(1, 5, 4, 2)), tf.float32)
    np.testing.assert_allclose(tape.gradient(ours, x, dy).numpy(),
                               tape.gradient(reference, x, dy).numpy(), rtol=1e-5, atol=1e-5)


def test_missing_weights_file_is_one_clear_line(tmp_path):
    with pytest.raises(WeightsError) as err:
        FeatureExtractor(["conv1_1"], weights=str(tmp_path / "nope.h5"))
    message = str(err.value)
    assert "\n" not in message and "--weights=" in message and "nope.h5" in message


def test_a_file_that_is_not_the_weights_is_refused(tmp_path):
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not an hdf5 file")
    with pytest.raises(WeightsError) as err:
        FeatureExtractor(["conv1_1"], weights=str(bogus))
    assert "\n" not in str(err.value) and "bogus.h5" in str(err.value)


def test_explicit_weights_path_loads_the_same_network(extractor, vgg_weights):
    explicit = FeatureExtractor(["conv1_1"], weights=features.cached_weights_path())
    image = tf.random.stateless_uniform([1, 16, 16, 3], seed=[2, 2])
    np.testing.assert_array_equal(explicit(image)["block1_conv1"].numpy(),
                                  extractor(image)["block1_conv1"].numpy())


def test_mixed_precision_sees_the_image_in_float32(extractor, small_pair, vgg_weights):
    """The first convolution of a bfloat16 network runs in float32, the rest in bfloat16: a
    pixel change far below bfloat16's resolution of the 0-255 input still reaches the network."""
    mixed = FeatureExtractor(["conv1_1", "conv2_1"], weights=vgg_weights,
                             precision="mixed_bfloat16")
    image = tf.constant(small_pair[0][None, :32, :32])
    maps = mixed(image)
    assert maps["block1_conv1"].dtype == tf.float32
    assert maps["block2_conv1"].dtype == tf.bfloat16
    np.testing.assert_array_equal(maps["block1_conv1"].numpy(),
                                  extractor(image)["block1_conv1"].numpy())
    nudged = image + tf.scatter_nd([[0, 16, 16, 1]], [0.1 / 255.0], image.shape)
    # In bfloat16 the input itself would not change: 0.1 grey level is below its step there.
    bf16_input = tf.cast(features.caffe_preprocess(image), tf.bfloat16)
    assert np.array_equal(bf16_input.numpy(),
                          tf.cast(features.caffe_preprocess(nudged), tf.bfloat16).numpy())
    assert not np.array_equal(mixed(nudged)["block1_conv1"].numpy(), maps["block1_conv1"].numpy())


def _kernel_ops(extractor) -> list[str]:
    """Casts, reversals and transposes of 3x3 kernels in one traced loss-and-gradient call."""
    @tf.function
    def gradient(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = tf.reduce_sum(tf.cast(extractor(image)["block2_conv1"], tf.float32))
        return tape.gradient(loss, image)

    graph = gradient.get_concrete_function(tf.TensorSpec([1, 16, 16, 3])).graph
    return [op.type for op in graph.get_operations()
            if op.type in ("Cast", "ReverseV2", "Transpose") and op.inputs[0].shape.rank == 4
            and op.inputs[0].shape[:2] == [3, 3]]


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_kernels_are_prepared_once_with_the_same_maps_and_gradient(vgg_weights, precision):
    """No step casts, flips or transposes a kernel: the extractor keeps them prepared; preparing
    them at each call instead (as exported models do) gives the same bits."""
    ex = FeatureExtractor(["conv1_1", "conv2_1"], weights=vgg_weights, precision=precision)
    each_call = ex.preparing_each_call()
    # What a replica of a distribution strategy computes with: copies made once, passed in.
    prepared = each_call.prepare_weights(only_changed=True)
    assert _kernel_ops(ex) == []
    with each_call.computing_with(prepared):
        assert _kernel_ops(each_call) == []
    expected = {"Transpose", "ReverseV2"} | ({"Cast"} if precision != "float32" else set())
    assert set(_kernel_ops(each_call)) == expected
    image = tf.random.stateless_uniform([1, 20, 18, 3], seed=[5, 6])
    results = []
    for extractor, given in ((ex, None), (each_call, None), (each_call, prepared)):
        context = each_call.computing_with(given) if given else contextlib.nullcontext()
        with context, tf.GradientTape() as tape:
            tape.watch(image)
            maps = extractor(image)
            loss = tf.reduce_sum(tf.cast(maps["block2_conv1"], tf.float32) ** 2)
        results.append((maps["block2_conv1"].numpy(), tape.gradient(loss, image).numpy()))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0][0], other[0])
        np.testing.assert_array_equal(results[0][1], other[1])
    assert np.abs(results[0][1]).max() > 0


def test_no_bfloat16_variable_is_made_under_a_strategy(vgg_weights):
    """MultiWorkerMirroredStrategy broadcasts every variable made under it, and CPU collectives
    carry no bfloat16: under a strategy the network keeps only its float32 weights."""
    made = []

    def record(next_creator, **kwargs):
        made.append(next_creator(**kwargs))
        return made[-1]

    with tf.distribute.OneDeviceStrategy("/cpu:0").scope(), tf.variable_creator_scope(record):
        FeatureExtractor(["conv1_1", "conv2_1"], weights=vgg_weights, precision="mixed_bfloat16")
    assert made and {v.dtype for v in made} == {tf.float32}
    # Without one, the bfloat16 kernels are kept prepared (test above): the recorder sees them.
    made.clear()
    with tf.variable_creator_scope(record):
        FeatureExtractor(["conv1_1", "conv2_1"], weights=vgg_weights, precision="mixed_bfloat16")
    assert tf.bfloat16 in {v.dtype for v in made}
