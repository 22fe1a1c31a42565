"""Coarse-to-fine schedule, mixed precision and the XLA switch of the step."""

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import Config, StyleTransfer
from tf_nst.config import ConfigError
from tf_nst.images import resize_image
from tf_nst.objective import loss_scale


def test_scale_sizes_and_step_split():
    config = Config(image_size=512, scales=3, num_steps=100)
    assert config.scale_sizes == (128, 256, 512)
    assert config.scale_steps == (33, 33, 34)
    config = Config(image_size=300, scales=2, scale_factor=1.5, num_steps=30,
                    steps_per_scale="20,10")
    assert config.scale_sizes == (200, 300) and config.scale_steps == (20, 10)
    assert Config().scale_sizes == (512,) and Config().scale_steps == (500,)


@pytest.mark.parametrize("changes, flag", [
    (dict(scales=2, steps_per_scale=(1, 2, 3), num_steps=6), "--steps_per_scale"),
    (dict(scales=2, steps_per_scale=(1, 2), num_steps=6), "--steps_per_scale=1,2: sums to 3"),
    (dict(scales=3, image_size=100), "--scales=3: makes the coarsest scale 25 px"),
    (dict(scale_factor=1.0), "--scale_factor=1"),
    (dict(scales=-1), "--scales=-1"),
])
def test_bad_schedules_are_one_line_errors(changes, flag):
    with pytest.raises(ConfigError, match=flag) as err:
        Config(**changes)
    assert "\n" not in str(err.value)


def test_coarse_to_fine_runs_every_scale_and_ends_at_full_size(small_pair):
    content, style = small_pair
    config = Config(image_size=64, scales=3, scale_factor=1.4, num_steps=9,
                    steps_per_scale=(3, 3, 3), optimizer="adam")
    st = StyleTransfer(content, style, config)
    assert st.sizes == (33, 46, 64)
    seen = []

    def record(s: StyleTransfer) -> None:
        seen.append((s.steps_done, s.scale, s.image.shape, s.losses["total"]))

    st.run(callback=record)
    # After the last step of a scale the image is already the next scale's starting point.
    assert [shape for _, _, shape, _ in seen] == (
        [(25, 33, 3)] * 2 + [(35, 46, 3)] * 3 + [(48, 64, 3)] * 4)
    assert st.image.shape == (48, 64, 3) and st.scale == 2 and st.steps_done == 9
    assert st.stepper._step.experimental_get_tracing_count() == 3  # one trace per scale, no more
    # Every scale optimises: within each scale (steps 1-3, 4-6, 7-9) the loss falls.
    totals = [t for *_, t in seen]
    for first in (0, 3, 6):
        assert totals[first + 2] < totals[first]
    assert all(np.isfinite(t) for *_, t in seen)


def test_next_scale_starts_from_the_upsampled_result(small_pair):
    content, style = small_pair
    st = StyleTransfer(content, style, Config(image_size=64, scales=2, num_steps=4,
                                              steps_per_scale=(2, 2)))
    st.step(1)
    coarse = st.image
    st.step(1)  # the last coarse step: moves to the fine scale
    # The fine scale starts at the coarse result of step 2, upsampled: recompute it from the state
    # one step earlier to check the upsampling itself.
    st2 = StyleTransfer(content, style, Config(image_size=64, scales=2, num_steps=4,
                                               steps_per_scale=(2, 2)))
    st2.step(1)
    np.testing.assert_array_equal(st2.image, coarse)  # deterministic
    last_coarse = st2.optimizer.image(st2.stepper._step(st2.state, st2.targets, st2.weights)[0])
    expected = resize_image(last_coarse, (48, 64))[0].numpy()
    assert st.image.shape == (48, 64, 3)
    np.testing.assert_allclose(st.image, expected, atol=1e-6)
    # The fine scale's targets are the full-size ones.
    assert st.targets.content[0].shape[1:3] == (6, 8)  # conv4_2 of 48x64 = 1/8


def test_zero_steps_at_a_coarse_scale_skips_it(small_pair):
    content, style = small_pair
    st = StyleTransfer(content, style, Config(image_size=64, scales=2, num_steps=2,
                                              steps_per_scale=(0, 2)))
    assert st.scale == 1 and st.image.shape == (48, 64, 3)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_losses_finite_and_close_to_float32(small_pair, precision):
    content, style = small_pair
    base = Config(image_size=48, optimizer="adam", num_steps=8, precision="float32")
    reference = StyleTransfer(content, style, base)
    mixed = StyleTransfer(content, style, base.replace(precision=precision))
    assert mixed.extractor.compute_dtype != tf.float32
    ref_losses, mixed_losses = reference.step(8), mixed.step(8)
    for key in ("total", "content", "style"):
        assert np.isfinite(mixed_losses[key])
        assert mixed_losses[key] == pytest.approx(ref_losses[key], rel=0.05), key
    # Image and optimiser state stay float32.
    assert all(t.dtype in (tf.float32, tf.int32) for t in tf.nest.flatten(mixed.state))
    # The same image through the float32 loss: the mixed result is as good as the float32 one.
    assert _loss_of(reference, mixed.image) == pytest.approx(
        _loss_of(reference, reference.image), rel=0.05)


def _loss_of(st: StyleTransfer, image: np.ndarray) -> float:
    return float(st.objective.loss_terms(tf.constant(image[None]), st.targets, st.weights)["total"][0])


def test_float16_gradient_without_scaling_overflows_and_with_it_matches(small_pair):
    content, style = small_pair
    # The printed sums: losses of ~1e9 and more, whose gradients overflow float16 unscaled.
    printed = Config(image_size=48, formulation="printed")
    reference = StyleTransfer(content, style, printed.replace(precision="float32"))
    half = StyleTransfer(content, style, printed.replace(precision="mixed_float16"))
    x = tf.constant(reference.image[None])

    def grad(st, scaled):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = st.objective.loss_terms(x, st.targets, st.weights)["total"]
            scale = loss_scale(total, x) if scaled else tf.ones_like(total)
            summed = tf.reduce_sum(total * scale)
        return tape.gradient(summed, x) / scale[:, None, None, None]

    exact = grad(reference, False)
    assert not np.all(np.isfinite(grad(half, False)))  # why the loss must be scaled (down)
    scaled = grad(half, True)
    assert np.all(np.isfinite(scaled))
    assert float(tf.norm(scaled - exact) / tf.norm(exact)) < 0.05


def test_loss_scale_is_a_power_of_two_that_scales_losses_down():
    image = tf.zeros([2, 64, 64, 3])
    scale = loss_scale(tf.constant([1e13, 1e9]), image).numpy()
    exponents = np.log2(scale)
    np.testing.assert_array_equal(exponents, np.round(exponents))
    assert np.all(scale < 1)  # losses of 1e9 .. 1e13 are scaled down
    assert scale[1] > scale[0]


def test_jit_compile_flag_reaches_the_step(small_pair):
    content, style = small_pair
    st = StyleTransfer(content, style, Config(image_size=32, jit_compile=True, optimizer="adam"))
    assert st.stepper._step._jit_compile is True
    assert StyleTransfer(content, style, Config(image_size=32)).stepper._step._jit_compile is False


def test_cli_runs_the_fast_preset_scaled_down(tmp_path, small_pair, vgg_weights):
    from PIL import Image

    from tests.conftest import ROOT
    from tests.in_process import tf_nst

    content, style = small_pair
    Image.fromarray((content * 255).astype(np.uint8)).save(tmp_path / "c.png")
    Image.fromarray((style * 255).astype(np.uint8)).save(tmp_path / "s.png")
    out = tmp_path / "out.png"
    result = tf_nst(f"--flagfile={ROOT / 'configs' / 'fast.cfg'}",
                    f"--content={tmp_path / 'c.png'}", f"--style={tmp_path / 's.png'}",
                    f"--output={out}", "--image_size=128", "--num_steps=2", "--steps_per_scale=1,1")
    assert result.returncode == 0, result.stderr[-500:]
    assert "coarse to fine: 1/1 steps at 64/128 px" in result.stderr
    assert Image.open(out).size == (128, 96)
