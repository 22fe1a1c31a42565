import pytest

from tf_nst.config import Config, ConfigError, fields, groups


def test_defaults_are_the_papers_layers_and_lbfgs():
    config = Config()
    assert config.content_layers == ("conv4_2",)
    assert config.style_layers == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert config.optimizer == "lbfgs"


def test_default_objective_is_the_authors_form_with_their_layer_weights():
    config = Config()
    assert config.formulation == "authors"
    # 1/N_l^2 for N_l = 64, 128, 256, 512, 512, normalised: (64, 16, 4, 1, 1) / 86
    assert config.resolved_style_layer_weights == pytest.approx(
        tuple(w / 86 for w in (64, 16, 4, 1, 1)))
    assert config.content_weight / config.style_weight == pytest.approx(0.05)
    printed = config.replace(formulation="printed")
    assert printed.resolved_style_layer_weights == pytest.approx((0.2,) * 5)
    assert config.replace(style_layer_weights=(1, 2, 3, 4, 5)).resolved_style_layer_weights == (
        1, 2, 3, 4, 5)


def test_comma_strings_and_lists_are_accepted():
    config = Config(style_layers="conv1_1, relu2_1", style_layer_weights=["1", "3"])
    assert config.style_layers == ("conv1_1", "relu2_1")
    assert config.style_layer_weights == (1.0, 3.0)


@pytest.mark.parametrize("changes, flag", [
    (dict(image_size=0), "--image_size=0"),
    (dict(image_size=-5), "--image_size=-5"),
    (dict(style_layers=("conv9_9",)), "--style_layers"),
    (dict(content_layers=("nope",)), "--content_layers"),
    (dict(style_layer_weights=(1.0, 2.0)), "--style_layer_weights"),
    (dict(optimizer="sgd"), "--optimizer"),
    (dict(pooling="min"), "--pooling"),
    (dict(learning_rate=0.0), "--learning_rate"),
    (dict(style_weight=-1.0), "--style_weight"),
    (dict(tv_weight=float("nan")), "--tv_weight"),
    (dict(noise_ratio=1.5), "--noise_ratio"),
    (dict(num_steps=-1), "--num_steps"),
    (dict(style_ramp_steps=-3), "--style_ramp_steps=-3"),
    (dict(style_ramp_start=0.0), "--style_ramp_start=0.0"),
    (dict(style_ramp_start=float("nan")), "--style_ramp_start"),
    (dict(style_layer_weights="a,b"), "--style_layer_weights"),
    (dict(lbfgs_frequency_gain=0.5), "--lbfgs_frequency_gain=0.5"),
    (dict(lbfgs_frequency_gain=float("nan")), "--lbfgs_frequency_gain"),
    (dict(lbfgs_frequency_gain=-64), "--lbfgs_frequency_gain=-64"),
    (dict(content_layers=(), style_layers=()), "--content_layers"),
])
def test_invalid_values_give_one_line_naming_the_flag(changes, flag):
    with pytest.raises(ConfigError) as err:
        Config(**changes)
    message = str(err.value)
    assert message.startswith(flag) and "\n" not in message


def test_replace_validates():
    with pytest.raises(ConfigError):
        Config().replace(image_size=0)
    assert Config().replace(image_size=64).image_size == 64


def test_every_field_has_a_group_and_help():
    names = [n for group in groups().values() for n in group]
    assert "other" not in groups()
    assert len(names) == len(set(names)) == len(fields())


def test_flags_are_defined_on_every_new_flag_values_object():
    """Each new FlagValues gets every flag, even when Python reuses a freed object's id."""
    from absl import flags

    from tf_nst.flags import define_config_flags
    for _ in range(20):
        values = flags.FlagValues()
        define_config_flags(values)
        define_config_flags(values)  # idempotent
        values(["prog", "--image_size=96"])
        assert values.image_size == 96
        del values
