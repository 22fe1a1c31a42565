"""--preset=hires: the automatic coarse-to-fine schedule, automatic tiling and the time estimate."""

import pytest

from tests.conftest import load_tool
from tf_nst import presets, resources, timing
from tf_nst.config import Config, ConfigError
from tf_nst.flops import step_flops
from tf_nst.tiling import tile_boxes


def _auto(size: int, num_steps: int = 350, later: int = 50, **kw) -> Config:
    return Config(image_size=size, scales=0, num_steps=num_steps, steps_per_scale=(later,), **kw)


@pytest.mark.parametrize("size, sizes, steps", [
    (256, (256,), (350,)),
    (640, (640,), (350,)),
    (641, (320, 641), (300, 50)),
    (1024, (512, 1024), (300, 50)),
    (1500, (375, 750, 1500), (250, 50, 50)),
    (2048, (512, 1024, 2048), (250, 50, 50)),
    (4096, (512, 1024, 2048, 4096), (200, 50, 50, 50)),
])
def test_automatic_scales_halve_down_to_at_most_640_px(size, sizes, steps):
    config = _auto(size)
    assert config.scale_count == len(sizes)
    assert config.scale_sizes == sizes and config.scale_steps == steps
    assert sum(config.scale_steps) == config.num_steps


def test_automatic_steps_repeat_their_last_number_for_further_scales():
    steps = [Config(image_size=size, scales=0, num_steps=400, steps_per_scale=(100, 50)).scale_steps
             for size in (512, 1024, 2048, 4096, 8192)]
    assert steps == [(400,), (300, 100), (250, 100, 50), (200, 100, 50, 50),
                     (150, 100, 50, 50, 50)]


def test_automatic_scales_without_steps_split_evenly_and_follow_the_factor():
    config = Config(image_size=2048, scales=0, num_steps=301)
    assert config.scale_steps == (100, 100, 101)
    assert Config(image_size=2048, scales=0, scale_factor=4).scale_sizes == (512, 2048)


def test_the_preset_is_the_automatic_schedule():
    config = presets.load("hires")
    assert (config.scales, config.tile_size, config.stop_tolerance) == (0, -1, 0)
    assert config.image_size == 2048 and config.precision == "auto"
    assert config.scale_sizes == (512, 1024, 2048) and config.scale_steps == (40, 200, 40)
    assert presets.load("hires", image_size=512).scale_steps == (280,)
    assert presets.load("hires", image_size=1024).scale_steps == (80, 200)
    assert presets.load("hires", image_size=4096).scale_steps == (0, 200, 40, 40)
    assert not config.tiling  # tile_size=-1 tiles nothing until resolved


@pytest.mark.parametrize("changes, message", [
    (dict(steps_per_scale=(300, 50)), "--steps_per_scale=300,50: gives the 3 scales after the "
     "coarsest 400 steps, more than --num_steps=350"),
    (dict(steps_per_scale=(-1,)), "--steps_per_scale=-1: must be non-negative"),
    (dict(steps_per_scale=(200,)), "--steps_per_scale=200: gives the 3 scales after the coarsest "
     "600 steps, more than --num_steps=350"),
    (dict(scales=-1), "--scales=-1: must be between 1 and 8, or 0 (automatic)"),
    (dict(tile_size=-2), "--tile_size=-2: must be 0 (no tiling), -1 (automatic) or between"),
])
def test_bad_automatic_values_are_one_line_config_errors(changes, message):
    with pytest.raises(ConfigError) as err:
        _auto(4096).replace(**changes)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_resolve_makes_the_schedule_explicit():
    config = resources.resolve(_auto(2048, tile_size=-1), 1536, 2048, budget=None)
    assert (config.scales, config.steps_per_scale, config.tile_size) == (3, (250, 50, 50), 0)
    assert config.scale_sizes == _auto(2048).scale_sizes
    explicit = Config(scales=2, num_steps=10, tile_size=256)
    assert resources.resolve(explicit, 512, 512, budget=1.0) == explicit


def test_automatic_tiling_takes_the_fewest_tiles_that_fit_a_hand_budget():
    config = _auto(4096, tile_size=-1, precision="float32")
    untiled = resources.estimate(config.replace(tile_size=0), 4096, 4096).total
    assert resources.resolve(config, 4096, 4096, budget=untiled).tile_size == 0
    two = resources.estimate(config.replace(tile_size=2080), 4096, 4096).total
    three = resources.estimate(config.replace(tile_size=1408), 4096, 4096).total
    assert three < two < untiled
    # 2 tiles a side: (4096 + 64) / 2 = 2080 px; 3: (4096 + 2 * 64) / 3 = 1408 px.
    assert resources.resolve(config, 4096, 4096, budget=two).tile_size == 2080
    resolved = resources.resolve(config, 4096, 4096, budget=(two + three) / 2)
    assert (resolved.tile_size, resolved.tile_overlap) == (1408, 64)
    assert len(tile_boxes(4096, 4096, 1408, 64)) == 9
    assert resources.resolve(config, 4096, 4096, budget=1e9).tile_size == 0  # nothing fits


def test_the_time_estimate_adds_steps_times_flops_over_the_rate():
    config = _auto(1024, num_steps=30, later=10)  # 20 steps at 512 px, 10 at 1024 px
    stages = timing.stages(config, 768, 1024)
    small = step_flops(384, 512, config.content_layers, config.style_layers).total
    large = step_flops(768, 1024, config.content_layers, config.style_layers).total
    assert stages == [timing.Stage(512, 384, 512, 20, 1, small),
                      timing.Stage(1024, 768, 1024, 10, 1, large)]
    rate = 1e12
    expected = (2 * timing.TRACE_SECONDS + (20 + timing.TARGET_STEPS) * small / rate
                + (10 + timing.TARGET_STEPS) * large / rate)
    assert timing.expected_seconds(stages, rate) == pytest.approx(expected)
    with pytest.raises(ValueError):
        timing.expected_seconds(stages, 0.0)


def test_a_tiled_stage_counts_every_tile():
    config = Config(image_size=2048, tile_size=1056, num_steps=5)
    (stage,) = timing.stages(config, 2048, 2048)
    assert stage.tiles == 4
    per_tile = step_flops(1056, 1056, config.content_layers, config.style_layers).total
    assert stage.step_flops == 4 * per_tile


def test_the_time_line_names_each_scale():
    config = _auto(2048, tile_size=1056)
    line = timing.time_line(config, 2048, 2048, rate=1e12)
    seconds = timing.expected_seconds(timing.stages(config, 2048, 2048), 1e12)
    assert line == (f"about {timing.format_duration(seconds)}: 250 steps at 512 px, 50 at "
                    "1024 px, 50 at 2048 px (4 tiles of 1056 px) (1000 GFLOP/s measured)")
    assert [timing.format_duration(s) for s in (0.2, 89, 91, 14 * 60, 125 * 60)] == [
        "1 s", "89 s", "2 min", "14 min", "2 h 05 min"]


def test_measured_rate_is_a_plausible_flop_rate(vgg_weights):
    rate = timing.measure_rate(Config(precision="float32"), side=64, steps=1)
    assert 1e8 < rate < 1e15


def test_benchmark_scores_the_content_itself_as_no_content_error(vgg_weights):
    bench = load_tool("benchmark_hires")
    pair = bench.parse_pair("examples", "/nowhere")
    score = bench.Scorer(pair, 64)(pair[0])
    assert score["content"] == pytest.approx(0.0, abs=1e-3)
    assert len(score["per_layer"]) == 5 and score["style"] > 0.1  # a photo is no painting
    assert bench.parse_pair("a.jpg:b.jpg", "/shared") == ("/shared/a.jpg", "/shared/b.jpg")


def test_benchmark_report_gives_ratios_to_the_reference_and_to_single_scale():
    bench = load_tool("benchmark_hires")
    single, hires = dict(style=0.40, content=1.00), dict(style=0.42, content=0.95)
    text = bench.report(dict(reference_s=100.0, hires_s={2048: 250.0}, expected_s={2048: 240.0},
                             compare=[dict(pair="a+b", size=1024, single_s=None, hires_s=60.0,
                                           single=single, hires=hires)]))
    assert "| 2048 | 250 | 2.50 | 240 |" in text
    assert "| a+b | 1024 | cached | 60 | 0.400 / 0.420 (1.05) | 1.000 / 0.950 (0.95) |" in text
