"""The stopping rule (tf_nst/stopping.py) on hand-made loss sequences: no network is run."""

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import presets
from tf_nst.config import Config, ConfigError
from tf_nst import stopping
from tf_nst.stopping import WINDOW, StoppingRule

# Steps 1..8. With W = 3 the falls are, by hand: k=4 (100-60)/60 = 0.667, k=5 (80-58)/58 = 0.379,
# k=6 (64-57)/57 = 0.123, k=7 (60-56.5)/56.5 = 0.062, k=8 (58-56.4)/56.4 = 0.028.
LOSSES = [100.0, 80.0, 64.0, 60.0, 58.0, 57.0, 56.5, 56.4]


def first_stop(rule: StoppingRule, losses, start: int = 1):
    """The first step (numbered from ``start``) at which ``rule`` says converged, else None."""
    for k, total in enumerate(losses, start=start):
        if rule.update([total])[0]:
            return k
    return None


@pytest.mark.parametrize("tolerance, expected", [
    (0.1, 7), (0.13, 6), (0.05, 8), (0.02, None), (0.7, 4), (1e9, 4)])
def test_stops_at_the_step_computed_by_hand(tolerance, expected):
    assert first_stop(StoppingRule(tolerance, window=3), LOSSES) == expected


def test_the_fall_is_relative_to_the_current_loss_and_strictly_below_the_tolerance():
    rule = StoppingRule(0.5, window=1)
    rule.update([3.0])
    assert not rule.update([2.0])[0]  # (3 - 2) / 2 = 0.5 is not below 0.5
    assert rule.update([1.5])[0]  # (2 - 1.5) / 1.5 = 0.333
    assert rule.stopped_at.tolist() == [3]


def test_nothing_stops_before_a_whole_window_of_history():
    # A flat loss has fallen by 0 from the first step, but L[k - W] exists only from k = W + 1.
    assert first_stop(StoppingRule(0.01, window=5), [7.0] * 20) == 6
    assert first_stop(StoppingRule(0.01, window=WINDOW), [7.0] * 100) == WINDOW + 1


def test_a_rising_loss_stops_but_tolerance_zero_never_stops():
    rising = [1.0, 2.0, 3.0, 4.0]
    assert first_stop(StoppingRule(0.01, window=2), rising) == 3
    for losses in (LOSSES, rising, [5.0] * 50, [0.0] * 50):
        rule = StoppingRule(0.0, window=2)
        assert first_stop(rule, losses) is None
        assert not rule.enabled and rule.stopped_at.tolist() == [0]


def test_non_finite_or_zero_losses_do_not_stop():
    assert first_stop(StoppingRule(0.5, window=1), [np.nan, 1.0, np.inf, np.inf, 0.0]) is None


def test_not_judged_during_the_style_ramp_nor_its_window():
    # K = 5, W = 3: the loss rises while beta ramps (steps 1..5) and is flat after it. The first
    # step judged is k = K + W + 1 = 9, whose window starts at step 6, past the ramp.
    losses = [10.0, 12.0, 14.0, 16.0, 18.0] + [18.0] * 10
    assert first_stop(StoppingRule(0.001, window=3, ramp_steps=5), losses) == 9
    assert first_stop(StoppingRule(0.001, window=3, ramp_steps=0), losses) == 4


def test_each_image_of_a_batch_is_judged_alone_and_stays_converged():
    # Image 0 follows LOSSES (stops at 7 with T = 0.1), image 1 is flat (stops at 4), image 2
    # keeps falling by half each step (never stops), image 3 stops at 5 and then falls again.
    halving = [2.0 ** -k for k in range(8)]
    late = [12.0, 9.0, 9.0, 9.0, 9.0, 1.0, 0.5, 0.25]
    rule = StoppingRule(0.1, window=3, batch=4)
    seen = [rule.update(np.array(totals)).tolist()
            for totals in zip(LOSSES, [4.0] * 8, halving, late)]
    assert rule.stopped_at.tolist() == [7, 4, 0, 5]
    assert seen[3] == [False, True, False, False]
    assert seen[-1] == [True, True, False, True]  # image 3 stays converged
    assert rule.converged.tolist() == [True, True, False, True]


def test_the_state_carries_a_run_over_exactly_as_an_uninterrupted_one():
    rng = np.random.default_rng(0)
    k = np.arange(1, 61)[:, None]
    losses = 10.0 + 100.0 * np.exp(-k * np.array([0.1, 0.2, 0.3])) + rng.uniform(0, 0.01, (60, 3))
    whole = StoppingRule(0.05, window=7, batch=3)
    expected = [whole.update(row).tolist() for row in losses]
    for cut in (0, 3, 8, 20, 30, 45, 59):
        first = StoppingRule(0.05, window=7, batch=3)
        got = [first.update(row).tolist() for row in losses[:cut]]
        saved = [np.array(t) for t in first.state]  # as a checkpoint keeps it
        resumed = StoppingRule(0.05, window=7, batch=3)
        resumed.state = stopping.RuleState(*map(tf.constant, saved))
        got += [resumed.update(row).tolist() for row in losses[cut:]]
        assert got == expected, cut
        assert resumed.stopped_at.tolist() == whole.stopped_at.tolist()
    assert len(set(whole.stopped_at.tolist()) - {0}) == 3  # each stopped, at its own step


def test_the_state_holds_the_last_window_of_totals_in_a_ring():
    rule = StoppingRule(0.1, window=2, batch=2)
    assert rule.stopped_at.tolist() == [0, 0]
    for k in range(1, 6):
        rule.update([k * 1.0, -k * 1.0])
    history, step, _ = rule.state
    assert int(step) == 5  # step k at row k mod 3
    np.testing.assert_array_equal(history.numpy(), [[3, -3], [4, -4], [5, -5]])


def test_judge_runs_in_a_graph_as_it_runs_eagerly():
    @tf.function
    def rule_of(losses):
        state = stopping.start(1, window=3)
        for k in range(len(LOSSES)):
            state = stopping.judge(state, losses[k:k + 1], 0.1, window=3)
        return state.stopped_at

    assert rule_of(tf.constant(LOSSES)).numpy().tolist() == [7]


def test_bad_input_is_refused():
    rule = StoppingRule(0.1, window=2, batch=2)
    rule.update([1.0, 2.0])
    with pytest.raises(ValueError, match="3 totals for 2 images"):
        rule.update([1.0, 2.0, 3.0])
    for kwargs in (dict(tolerance=-0.1), dict(tolerance=float("nan")),
                   dict(tolerance=0.1, window=0), dict(tolerance=0.1, ramp_steps=-1)):
        with pytest.raises(ValueError):
            StoppingRule(**kwargs)


def test_reason_is_one_line_naming_the_rule():
    assert StoppingRule(0.001, window=20).reason == (
        "the loss fell by less than 0.1% over the last 20 steps")


def test_from_config_takes_the_tolerance_and_the_ramp():
    rule = StoppingRule.from_config(Config(stop_tolerance=0.01, style_ramp_steps=40))
    assert (rule.tolerance, rule.window, rule.ramp_steps) == (0.01, WINDOW, 40)
    assert StoppingRule.from_config(Config()).enabled  # the default run stops by itself


@pytest.mark.parametrize("value", [-0.001, float("inf"), float("nan")])
def test_config_refuses_a_bad_tolerance(value):
    with pytest.raises(ConfigError, match="^--stop_tolerance="):
        Config(stop_tolerance=value)


def test_the_papers_presets_run_all_their_steps():
    for name in ("gatys2016", "gatys2016_printed"):
        assert presets.load(name).stop_tolerance == 0
