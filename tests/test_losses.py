"""Each formula against values computed by hand on tiny tensors."""

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import losses
from tf_nst.objective import LossWeights, Objective, ramped_weights

# One image, 2x1 positions (M = 2), N = 2 channels: F = [[1, 2], [3, 4]] (rows = positions).
F = tf.constant([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # [1, 2, 1, 2]


def test_gram_matrix_is_sum_over_positions_of_outer_products():
    # G = F^T F = [[1*1 + 3*3, 1*2 + 3*4], [2*1 + 4*3, 2*2 + 4*4]]
    np.testing.assert_allclose(losses.gram_matrix(F).numpy(), [[[10.0, 14.0], [14.0, 20.0]]])


def test_gram_matrix_batch_and_float32_from_bfloat16():
    batch = tf.concat([F, 2 * F], 0)
    grams = losses.gram_matrix(tf.cast(batch, tf.bfloat16))
    assert grams.dtype == tf.float32 and grams.shape == (2, 2, 2)
    np.testing.assert_allclose(grams[1].numpy(), 4 * np.array([[10.0, 14.0], [14.0, 20.0]]))


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16, tf.float16])
def test_gram_gradient_is_f_times_dg_plus_dg_transposed_in_the_networks_dtype(dtype):
    # L = sum(W * G) with G = F^T F: dL/dF = F (W + W^T). With F = [[1, 2], [3, 4]] and
    # W = [[1, 2], [0, 1]], W + W^T = [[2, 2], [2, 2]], so
    # dL/dF = [[1*2 + 2*2, 1*2 + 2*2], [3*2 + 4*2, 3*2 + 4*2]].
    weights = tf.constant([[[1.0, 2.0], [0.0, 1.0]]])
    features = tf.cast(F, dtype)
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = tf.reduce_sum(weights * losses.gram_matrix(features))
    grad = tape.gradient(loss, features)
    assert grad.dtype == dtype  # flows back into the network in its own precision
    np.testing.assert_allclose(tf.cast(grad, tf.float32).numpy().reshape(2, 2),
                               [[6.0, 6.0], [14.0, 14.0]])


def test_content_loss_is_half_sum_of_squares():
    target = tf.zeros_like(F)
    # 1/2 * (1 + 4 + 9 + 16) = 15
    np.testing.assert_allclose(losses.content_loss(F, target).numpy(), [15.0])
    np.testing.assert_allclose(losses.content_loss(F, F).numpy(), [0.0])


def test_content_loss_mean_form_is_mean_of_squares():
    # the authors' code: (1 + 4 + 9 + 16) / 4 entries
    np.testing.assert_allclose(losses.content_loss(F, tf.zeros_like(F), mean=True).numpy(), [7.5])


def test_style_layer_loss_mean_form_is_mse_of_grams_per_position():
    gram = tf.constant([[[10.0, 14.0], [14.0, 20.0]]])
    target = tf.constant([[[9.0, 14.0], [12.0, 20.0]]])
    # mean over N^2 = 4 entries of ((G - A) / M)^2 with M = 2: (0.25 + 1) / 4
    np.testing.assert_allclose(losses.style_layer_loss(gram, target, 2, mean=True).numpy(),
                               [1.25 / 4.0])


def test_mean_forms_do_not_grow_with_the_image():
    # Tiling a map repeats its statistics: the mean forms keep their value, the sums grow.
    tiled, zeros = tf.concat([F, F], axis=1), tf.zeros([1, 4, 1, 2])
    for mean, factor in ((True, 1.0), (False, 2.0)):
        assert float(losses.content_loss(tiled, zeros, mean)[0]) == pytest.approx(
            factor * float(losses.content_loss(F, zeros[:, :2], mean)[0]))
    target = tf.constant([[[0.5, 0.0], [0.0, 0.5]]])  # per-position Gram target
    small = losses.blended_style_layer_loss(F, target[None], tf.ones([1]), mean=True)
    large = losses.blended_style_layer_loss(tiled, target[None], tf.ones([1]), mean=True)
    np.testing.assert_allclose(large.numpy(), small.numpy(), rtol=1e-6)


def test_style_layer_loss_eq4():
    gram = tf.constant([[[10.0, 14.0], [14.0, 20.0]]])
    target = tf.constant([[[9.0, 14.0], [12.0, 20.0]]])
    # sum (G - A)^2 = 1 + 4 = 5; 4 N^2 M^2 = 4 * 4 * 4 = 64
    np.testing.assert_allclose(losses.style_layer_loss(gram, target, 2).numpy(), [5.0 / 64.0])


def test_the_objective_weights_each_style_layer_eq5():
    """L_style = sum_l w_l E_l (Eq. 5), through the objective, on a fake network whose two style
    layers have one 1x1 map each (N = M = 1): conv1_1 = x_0, conv2_1 = 2 x_1."""
    def extractor(x):
        return {"block1_conv1": x[..., :1], "block2_conv1": 2.0 * x[..., 1:2]}

    objective = Objective(extractor, (), ("conv1_1", "conv2_1"), formulation="printed")
    image, style = tf.constant([[[[1.0, 1.0, 0.0]]]]), tf.constant([[[[0.0, 0.5, 0.0]]]])
    weights = LossWeights(*map(tf.constant, (1.0, 10.0, 0.0, [0.5, 2.0], [1.0])))
    terms = objective.loss_terms(image, objective.targets(image, style), weights)
    # E_1 = (1^2 - 0^2)^2 / 4 = 0.25; E_2 = (2^2 - 1^2)^2 / 4 = 2.25
    np.testing.assert_allclose(terms["style/conv1_1"], [0.25])
    np.testing.assert_allclose(terms["style/conv2_1"], [2.25])
    np.testing.assert_allclose(terms["style"], [0.5 * 0.25 + 2.0 * 2.25])
    np.testing.assert_allclose(terms["total"], [10.0 * 4.625])


def test_total_variation_on_255_scale():
    image = tf.reshape(tf.constant([0.0, 1.0, 0.0, 0.0]), [1, 2, 2, 1])
    # x = [[0, 255], [0, 0]]: dx^2 = 255^2 (row 0), dy^2 = 255^2 (column 1)
    np.testing.assert_allclose(losses.total_variation_loss(image).numpy(), [2 * 255.0 ** 2])


def test_total_variation_mean_form_divides_by_pixels():
    image = tf.reshape(tf.constant([0.0, 1.0, 0.0, 0.0]), [1, 2, 2, 1])
    np.testing.assert_allclose(losses.total_variation_loss(image, mean=True).numpy(),
                               [2 * 255.0 ** 2 / 4])


def test_total_loss_eq7():
    terms = {"content": tf.constant([2.0]), "style": tf.constant([3.0]), "tv": tf.constant([5.0])}
    np.testing.assert_allclose(losses.total_loss(terms, 1e-3, 10.0, 0.1).numpy(),
                               [2e-3 + 30.0 + 0.5])


def test_losses_are_per_image():
    a = tf.random.stateless_uniform([3, 4, 4, 2], seed=[1, 2])
    b = tf.random.stateless_uniform([3, 4, 4, 2], seed=[3, 4])
    whole = losses.content_loss(a, b).numpy()
    for i in range(3):
        assert whole[i] == pytest.approx(losses.content_loss(a[i:i + 1], b[i:i + 1]).numpy()[0])


def test_style_weight_ramp_hand_values():
    """beta_k = beta (s + (1 - s) min(k / K, 1)); K = 0 keeps beta."""
    weights = LossWeights(*(tf.constant(v) for v in (1.0, 8.0, 0.0, [1.0], [1.0])),
                          style_ramp_steps=tf.constant(4.0), style_ramp_start=tf.constant(0.25))
    k = tf.constant([0, 2, 4, 5, 9])
    ramped = ramped_weights(weights, k)
    np.testing.assert_allclose(ramped.style.numpy(), [2.0, 5.0, 8.0, 8.0, 8.0])
    assert float(ramped.content) == 1.0
    constant = ramped_weights(weights._replace(style_ramp_steps=0.0), k)
    np.testing.assert_allclose(constant.style.numpy(), [8.0] * 5)
