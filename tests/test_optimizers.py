"""The optimisers on problems whose minimum is known (no network needed)."""

import types

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import optimizers
from tf_nst.config import Config

SHAPE = [1, 6, 5, 3]
# An ill-conditioned quadratic f(x) = sum w (x - c)^2 with curvatures over 3 decades and its
# minimum c inside the box [0, 1].
W = tf.exp(tf.random.stateless_uniform(SHAPE, seed=[0, 1], minval=0.0, maxval=np.log(1000.0)))
C = tf.random.stateless_uniform(SHAPE, seed=[0, 2], minval=0.1, maxval=0.9)


def quadratic(x, w=W, c=C):
    return tf.reduce_sum(w * tf.square(x - c), axis=[1, 2, 3])


def run(optimizer, x0, steps, fn=quadratic):
    state = optimizer.init(x0)

    @tf.function
    def step(state):
        x = optimizer.evaluation_point(state)
        with tf.GradientTape() as tape:
            tape.watch(x)
            f = fn(x)
            summed = tf.reduce_sum(f)
        return optimizer.update(state, f, tape.gradient(summed, x))

    for _ in range(steps):
        state = step(state)
    return state


def test_lbfgs_converges_on_ill_conditioned_quadratic():
    x0 = tf.fill(SHAPE, 0.5)
    state = run(optimizers.Lbfgs(initial_step=0.05), x0, 60)
    assert float(quadratic(optimizers.Lbfgs().image(state))[0]) < 1e-4 * float(quadratic(x0)[0])


def test_lbfgs_beats_adam_at_equal_evaluations():
    x0 = tf.fill(SHAPE, 0.5)
    lbfgs = optimizers.Lbfgs(initial_step=0.05)
    adam = optimizers.Adam(learning_rate=0.05)
    f_lbfgs = float(quadratic(lbfgs.image(run(lbfgs, x0, 40)))[0])
    f_adam = float(quadratic(adam.image(run(adam, x0, 40)))[0])
    assert f_lbfgs < 0.1 * f_adam


def test_lbfgs_accepted_losses_never_increase():
    lbfgs = optimizers.Lbfgs(initial_step=0.5)  # too large a first step: must backtrack
    state = lbfgs.init(tf.fill(SHAPE, 0.5))
    previous = np.inf
    rejected = 0
    for _ in range(30):
        state = run_one(lbfgs, state)
        f = float(state.f[0])
        assert f <= previous + 1e-6
        rejected += int(f == previous)
        previous = f
    assert rejected > 0  # the line search did backtrack


def run_one(optimizer, state):
    x = optimizer.evaluation_point(state)
    with tf.GradientTape() as tape:
        tape.watch(x)
        f = quadratic(x)
        summed = tf.reduce_sum(f)
    return optimizer.update(state, f, tape.gradient(summed, x))


@pytest.mark.parametrize("make", [lambda: optimizers.Lbfgs(0.05), lambda: optimizers.Adam(0.05)])
def test_pixels_stay_in_range_and_reach_the_bound(make):
    outside = tf.where(C > 0.5, 1.5, -0.5)  # minimum outside the box: the answer is on its faces
    optimizer = make()
    state = run(optimizer, tf.fill(SHAPE, 0.5), 80, fn=lambda x: quadratic(x, c=outside))
    image = optimizer.image(state).numpy()
    assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_allclose(image, np.clip(outside.numpy(), 0, 1), atol=0.02)


@pytest.mark.parametrize("make", [lambda: optimizers.Lbfgs(0.05), lambda: optimizers.Adam(0.05)])
def test_batch_equals_each_image_alone(make):
    w2 = tf.concat([W, W[:, ::-1]], 0)
    c2 = tf.concat([C, 1.0 - C], 0)
    x0 = tf.concat([tf.fill(SHAPE, 0.5), tf.fill(SHAPE, 0.3)], 0)
    optimizer = make()
    together = optimizer.image(run(optimizer, x0, 15, fn=lambda x: quadratic(x, w2, c2))).numpy()
    for i in range(2):
        alone = optimizer.image(run(optimizer, x0[i:i + 1], 15,
                                    fn=lambda x: quadratic(x, w2[i:i + 1], c2[i:i + 1]))).numpy()
        np.testing.assert_allclose(together[i:i + 1], alone, atol=1e-6)


def test_adam_first_step_moves_each_pixel_by_learning_rate():
    adam = optimizers.Adam(learning_rate=0.01)
    x0 = tf.fill(SHAPE, 0.5)
    state = run(adam, x0, 1)
    np.testing.assert_allclose(np.abs(adam.image(state) - x0), 0.01, rtol=1e-4)


def test_from_config():
    assert isinstance(optimizers.from_config(Config(optimizer="adam")), optimizers.Adam)
    lbfgs = optimizers.from_config(Config(optimizer="lbfgs", learning_rate=0.1, lbfgs_history=3))
    assert lbfgs.frequency_gain == 0 and lbfgs.dft == "fft"
    fourier = optimizers.from_config(Config(lbfgs_frequency_gain=32), builtin_ops=True)
    assert fourier.frequency_gain == 32 and fourier.dft == "matmul"
    assert isinstance(lbfgs, optimizers.Lbfgs) and lbfgs.history == 3
    with pytest.raises(ValueError):
        optimizers.from_config(types.SimpleNamespace(optimizer="sgd", learning_rate=0.1))


def test_rho_history_shifts_only_for_the_images_that_store():
    opt = optimizers.Lbfgs(history=3)
    state = opt.init(tf.fill([2, 3, 3, 3], 0.5))
    grad = tf.tile(tf.reshape(tf.linspace(-1.0, 1.0, 27), [1, 3, 3, 3]), [2, 1, 1, 1])
    state = opt.update(state, tf.constant([1.0, 1.0]), grad)  # first evaluations: accepted
    # Image 0 is accepted and stores a pair; image 1's trial is rejected: its history stays.
    state = opt.update(state, tf.constant([0.5, 10.0]), grad * 0.5)
    first = state.rho.numpy()
    assert first[-1, 0] > 0 and not first[:-1, 0].any() and not first[:, 1].any()
    state = opt.update(state, tf.constant([0.25, 10.0]), grad * 0.25)
    rho = state.rho.numpy()
    assert rho[0, 0] == 0 and rho[-2, 0] == first[-1, 0] and rho[-1, 0] > 0
    assert not rho[:, 1].any()


@pytest.mark.parametrize("store", [[True, True], [False, False], [True, False]])
def test_curvature_pair_slots_shift_only_for_the_images_that_store(store):
    slots = tuple(tf.fill([2, 1, 1, 3], float(i)) for i in range(3))  # m=3, B=2
    new = tf.constant([100.0, 200.0])[:, None, None, None] + tf.zeros([2, 1, 1, 3])
    pushed = optimizers._push_slots(slots, new, tf.constant(store))
    assert len(pushed) == 3
    for b, stores in enumerate(store):
        expected = [1.0, 2.0, 100.0 * (b + 1)] if stores else [0.0, 1.0, 2.0]
        np.testing.assert_array_equal([float(p[b, 0, 0, 0]) for p in pushed], expected)
    if all(store):  # nothing is copied: the slots are the same tensors, passed along
        assert pushed[0] is slots[1] and pushed[1] is slots[2] and pushed[2] is new


def test_lbfgs_state_holds_each_curvature_pair_as_its_own_tensor():
    opt = optimizers.Lbfgs(history=4)
    state = opt.init(tf.fill([1, 3, 3, 3], 0.5))
    assert len(state.s) == len(state.y) == 4 and state.rho.shape == (4, 1)
    grad = tf.reshape(tf.linspace(-1.0, 1.0, 27), [1, 3, 3, 3])
    state = opt.update(state, tf.constant([1.0]), grad)
    state = opt.update(state, tf.constant([0.5]), grad * 0.5)  # accepted: stores one pair
    np.testing.assert_allclose(state.s[-1].numpy(), (state.x - 0.5).numpy(), atol=1e-7)
    np.testing.assert_allclose(state.y[-1].numpy(), (-0.5 * grad).numpy(), rtol=1e-6)
    assert float(state.rho[-1, 0]) > 0 and float(tf.reduce_max(state.rho[:-1])) == 0


def test_a_collapsed_line_search_forgets_the_history_and_restarts_steepest():
    opt = optimizers.Lbfgs(initial_step=0.1, history=3)
    x = tf.fill([1, 2, 2, 3], 0.5)
    state = opt.init(x)
    grad = tf.reshape(tf.linspace(-1.0, 1.0, 12), [1, 2, 2, 3])
    state = opt.update(state, tf.constant([1.0]), grad)  # first evaluation: accepted
    state = opt.update(state, tf.constant([0.5]), grad * 0.5)  # accepted, stores a pair
    assert float(state.rho[-1, 0]) > 0
    # Every later trial is worse: the step shrinks until it collapses below min_step.
    for _ in range(40):
        state = opt.update(state, tf.constant([10.0]), grad)
        if float(tf.reduce_max(state.rho)) == 0:
            break
    assert float(tf.reduce_max(state.rho)) == 0 and float(state.alpha[0]) == 1.0
    np.testing.assert_allclose(state.d.numpy(), opt._steepest(state.g).numpy(), rtol=1e-6)


@pytest.mark.parametrize("precondition", [
    lambda x: optimizers.frequency_scaling(x, 64.0),
    lambda x: optimizers.frequency_scaling(x, 64.0, dft="matmul"),
], ids=["fft", "matmul"])
def test_initial_inverse_hessians_are_symmetric_positive_definite(precondition):
    """a.Pb = Pa.b and a.Pa >= a.a: a valid L-BFGS H0 that never shortens a step."""
    rng = np.random.default_rng(2)
    a, b = (tf.constant(rng.normal(size=(2, 13, 10, 3)), tf.float32) for _ in range(2))
    pa, pb = precondition(a), precondition(b)
    np.testing.assert_allclose(optimizers._dot(pa, b), optimizers._dot(a, pb), rtol=1e-4)
    assert np.all(optimizers._dot(a, pa).numpy() >= optimizers._dot(a, a).numpy())


def test_frequency_gains_hand_values():
    """clip(0.5 / |f|, 1, G): DC gets G, |f| = 1/16 gets 8, |f| >= 1/2 gets 1."""
    gains = optimizers.frequency_gains(16, 16, 64.0, onesided=False).numpy()
    assert gains[0, 0] == 64.0
    np.testing.assert_allclose([gains[1, 0], gains[0, 1], gains[15, 0], gains[0, 15]], 8.0)
    np.testing.assert_allclose(gains[1, 1], 0.5 / np.hypot(1 / 16, 1 / 16), rtol=1e-6)
    np.testing.assert_allclose([gains[8, 0], gains[8, 8], gains[4, 8]], 1.0)
    np.testing.assert_allclose(gains[4, 4], 0.5 / np.hypot(0.25, 0.25), rtol=1e-6)
    np.testing.assert_array_equal(optimizers.frequency_gains(16, 16, 64.0).numpy(),
                                  gains[:, :9])  # rfft2d's half
    odd = optimizers.frequency_gains(5, 7, 64.0, onesided=False).numpy()
    np.testing.assert_allclose(odd[1, 2], 0.5 / np.hypot(1 / 5, 2 / 7), rtol=1e-6)
    np.testing.assert_allclose(odd[4, 5], odd[1, 2], rtol=1e-6)  # -f has |f|'s gain


def test_frequency_scaling_scales_each_frequency_by_its_gain():
    constant = tf.fill([1, 8, 6, 3], 0.25)
    np.testing.assert_allclose(optimizers.frequency_scaling(constant, 20.0).numpy(), 5.0,
                               rtol=1e-5)
    rows = np.cos(2 * np.pi * np.arange(16) / 16)[None, :, None, None] * np.ones((1, 16, 12, 2))
    wave = tf.constant(rows, tf.float32)  # one cycle down the image: f = 1/16, gain 8
    np.testing.assert_allclose(optimizers.frequency_scaling(wave, 64.0).numpy(), 8.0 * rows,
                               atol=1e-5)
    checker = tf.constant((-1.0) ** np.add.outer(np.arange(6), np.arange(4))[None, :, :, None],
                          tf.float32)  # the Nyquist corner: gain 1
    np.testing.assert_allclose(optimizers.frequency_scaling(checker, 64.0).numpy(),
                               checker.numpy(), atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 16, 12, 3), (1, 15, 9, 3), (1, 1, 1, 3)])
def test_frequency_scaling_by_matmuls_matches_the_fft(shape):
    """The TFLite form (real DFT matrices) computes what rfft2d/irfft2d do, odd sizes too."""
    x = tf.constant(np.random.default_rng(5).normal(size=shape), tf.float32)
    fft = optimizers.frequency_scaling(x, 64.0).numpy()
    matmul = optimizers.frequency_scaling(x, 64.0, dft="matmul").numpy()
    np.testing.assert_allclose(matmul, fft, atol=1e-4 * np.abs(fft).max())
    with pytest.raises(ValueError, match="dft"):
        optimizers.frequency_scaling(x, 64.0, dft="wavelet")


def test_preconditioned_lbfgs_converges_faster_on_a_smooth_ill_conditioned_problem():
    """A quadratic whose curvature is small along smooth images: the Fourier H0 reaches a much
    lower loss in the same number of evaluations."""
    rng = np.random.default_rng(4)
    target = tf.constant(rng.uniform(0.2, 0.8, (1, 16, 16, 3)), tf.float32)

    def loss_and_grad(x):
        d = x - target
        # A high-pass residual: curvature grows with frequency, from 1e-3 for constant images.
        high = d - tf.nn.avg_pool2d(d, 3, 1, "SAME")
        loss = tf.reduce_sum(tf.square(high), [1, 2, 3]) + 1e-3 * tf.reduce_sum(
            tf.square(d), [1, 2, 3])
        return loss, None

    def run_with(frequency_gain=0.0):
        opt = optimizers.Lbfgs(initial_step=0.05, history=5, frequency_gain=frequency_gain)
        state = opt.init(tf.fill([1, 16, 16, 3], 0.5))
        for _ in range(40):
            x = opt.evaluation_point(state)
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_and_grad(x)[0]
            state = opt.update(state, loss, tape.gradient(loss, x))
        return float(loss_and_grad(opt.image(state))[0][0])

    assert run_with(frequency_gain=64.0) < 0.2 * run_with()


def test_lbfgs_tests_the_comparable_loss_and_keeps_the_current_one():
    """With a weight schedule the trial's loss is of another objective than the kept one: the
    sufficient-decrease test compares ``comparable_loss`` (the trial under the kept loss's
    weights), and an accepted trial keeps ``loss`` (under the current weights) for the next."""
    opt = optimizers.Lbfgs(initial_step=0.1)
    grad = tf.reshape(tf.linspace(-1.0, 1.0, 12), [1, 2, 2, 3])
    state = opt.update(opt.init(tf.fill([1, 2, 2, 3], 0.5)), tf.constant([1.0]), grad)
    # Higher under the new weights, lower under the old ones: a decrease of one objective.
    accepted = opt.update(state, tf.constant([2.0]), grad, comparable_loss=tf.constant([0.5]))
    assert int(accepted.iteration[0]) == 2 and float(accepted.f[0]) == 2.0
    np.testing.assert_array_equal(accepted.x.numpy(), state.trial.numpy())
    # Lower under the new weights, higher under the old: not a decrease, so rejected.
    rejected = opt.update(state, tf.constant([0.5]), grad, comparable_loss=tf.constant([2.0]))
    assert int(rejected.iteration[0]) == 1 and float(rejected.f[0]) == 1.0
    assert float(rejected.alpha[0]) < 1.0
    assert int(opt.steps_taken(accepted)[0]) == 2
