"""The stopping rule (tf_nst/stopping.py) on hand-made loss sequences: no network is run."""

import numpy as np
import pytest
import tensorflow as tf

from tf_nst import presets, stopping
from tf_nst.config import Config, ConfigError
from tf_nst.stopping import WINDOW

# Steps 1..8. With W = 3 the falls are, by hand: k=4 (100-60)/60 = 0.667, k=5 (80-58)/58 = 0.379,
# k=6 (64-57)/57 = 0.123, k=7 (60-56.5)/56.5 = 0.062, k=8 (58-56.4)/56.4 = 0.028.
LOSSES = [100.0, 80.0, 64.0, 60.0, 58.0, 57.0, 56.5, 56.4]


def feed(losses, tolerance, window=3, ramp_steps=0, state=None):
    """The rule's state after ``losses`` (rows of per-image totals) and, per step, which images
    had converged."""
    losses = [np.atleast_1d(row) for row in losses]
    state = state or stopping.start(len(losses[0]), window)
    seen = []
    for row in losses:
        state = stopping.judge(state, row, tolerance, ramp_steps, window)
        seen.append((state.stopped_at.numpy() > 0).tolist())
    return state, seen


def first_stop(losses, tolerance, window=3, ramp_steps=0):
    """The first step at which a single image converges, else None."""
    _, seen = feed(losses, tolerance, window, ramp_steps)
    return next((k for k, done in enumerate(seen, start=1) if done[0]), None)


@pytest.mark.parametrize("tolerance, expected", [
    (0.1, 7), (0.13, 6), (0.05, 8), (0.02, None), (0.7, 4), (1e9, 4)])
def test_stops_at_the_step_computed_by_hand(tolerance, expected):
    assert first_stop(LOSSES, tolerance) == expected


def test_the_fall_is_relative_to_the_current_loss_and_strictly_below_the_tolerance():
    # (3 - 2) / 2 = 0.5 is not below 0.5; (2 - 1.5) / 1.5 = 0.333 is.
    state, seen = feed([3.0, 2.0, 1.5], 0.5, window=1)
    assert seen == [[False], [False], [True]] and state.stopped_at.numpy().tolist() == [3]


def test_nothing_stops_before_a_whole_window_of_history():
    # A flat loss has fallen by 0 from the first step, but L[k - W] exists only from k = W + 1.
    assert first_stop([7.0] * 20, 0.01, window=5) == 6
    assert first_stop([7.0] * 100, 0.01, window=WINDOW) == WINDOW + 1


def test_a_rising_loss_stops_but_tolerance_zero_never_stops():
    rising = [1.0, 2.0, 3.0, 4.0]
    assert first_stop(rising, 0.01, window=2) == 3
    for losses in (LOSSES, rising, [5.0] * 50, [0.0] * 50):
        assert first_stop(losses, 0.0, window=2) is None


def test_non_finite_or_zero_losses_do_not_stop():
    assert first_stop([np.nan, 1.0, np.inf, np.inf, 0.0], 0.5, window=1) is None


def test_not_judged_during_the_style_ramp_nor_its_window():
    # K = 5, W = 3: the loss rises while beta ramps (steps 1..5) and is flat after it. The first
    # step judged is k = K + W + 1 = 9, whose window starts at step 6, past the ramp.
    losses = [10.0, 12.0, 14.0, 16.0, 18.0] + [18.0] * 10
    assert first_stop(losses, 0.001, ramp_steps=5) == 9
    assert first_stop(losses, 0.001, ramp_steps=0) == 4


def test_each_image_of_a_batch_is_judged_alone_and_stays_converged():
    # Image 0 follows LOSSES (stops at 7 with T = 0.1), image 1 is flat (stops at 4), image 2
    # keeps falling by half each step (never stops), image 3 stops at 5 and then falls again.
    halving = [2.0 ** -k for k in range(8)]
    late = [12.0, 9.0, 9.0, 9.0, 9.0, 1.0, 0.5, 0.25]
    state, seen = feed(list(zip(LOSSES, [4.0] * 8, halving, late)), 0.1)
    assert state.stopped_at.numpy().tolist() == [7, 4, 0, 5]
    assert seen[3] == [False, True, False, False]
    assert seen[-1] == [True, True, False, True]  # image 3 stays converged


def test_the_state_carries_a_run_over_exactly_as_an_uninterrupted_one():
    rng = np.random.default_rng(0)
    k = np.arange(1, 61)[:, None]
    losses = 10.0 + 100.0 * np.exp(-k * np.array([0.1, 0.2, 0.3])) + rng.uniform(0, 0.01, (60, 3))
    whole, expected = feed(losses, 0.05, window=7)
    for cut in (3, 8, 20, 30, 45, 59):
        first, got = feed(losses[:cut], 0.05, window=7)
        saved = stopping.RuleState(*(tf.constant(np.array(t)) for t in first))  # a checkpoint
        resumed, more = feed(losses[cut:], 0.05, window=7, state=saved)
        assert got + more == expected, cut
        assert resumed.stopped_at.numpy().tolist() == whole.stopped_at.numpy().tolist()
    assert len(set(whole.stopped_at.numpy().tolist()) - {0}) == 3  # each at its own step


def test_the_state_holds_the_last_window_of_totals_in_a_ring():
    state, _ = feed([[k * 1.0, -k * 1.0] for k in range(1, 6)], 0.1, window=2)
    assert int(state.step) == 5  # step k at row k mod 3
    np.testing.assert_array_equal(state.history.numpy(), [[3, -3], [4, -4], [5, -5]])


def test_judge_runs_in_a_graph_as_it_runs_eagerly():
    @tf.function
    def rule_of(losses):
        state = stopping.start(1, window=3)
        for k in range(len(LOSSES)):
            state = stopping.judge(state, losses[k:k + 1], 0.1, window=3)
        return state.stopped_at

    assert rule_of(tf.constant(LOSSES)).numpy().tolist() == [7]


def test_reason_is_one_line_naming_the_rule():
    assert stopping.reason(0.001) == "the loss fell by less than 0.1% over the last 20 steps"


def test_the_default_run_stops_by_itself():
    assert Config().stop_tolerance > 0


@pytest.mark.parametrize("value", [-0.001, float("inf"), float("nan")])
def test_config_refuses_a_bad_tolerance(value):
    with pytest.raises(ConfigError, match="^--stop_tolerance="):
        Config(stop_tolerance=value)


def test_the_papers_presets_run_all_their_steps():
    for name in ("gatys2016", "gatys2016_printed"):
        assert presets.load(name).stop_tolerance == 0
