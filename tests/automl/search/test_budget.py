"""The budget planner with made-up costs: no clock, no training."""

from __future__ import annotations

import optuna
import pytest

from automl.search._budget import (
    COST_ATTRS,
    MIN_SUBSET_IMAGES,
    PHASE_ATTR,
    PREDICTION_MARGIN,
    SCREENING_RUNGS,
    BudgetPlan,
    Cost,
    NetSize,
    default_final_share,
    predicted_seconds_per_image,
    screening_rungs,
)
from automl.search._selection import Selection, choose_winner, screening_winner

TRAIN = 54_000


def test_the_budget_splits_into_screening_and_final() -> None:
    plan = BudgetPlan.from_timeout(1000.0, 600.0, final_share=0.4)
    assert plan.screening_deadline == pytest.approx(1360.0)
    assert plan.final_seconds == pytest.approx(240.0)
    with pytest.raises(ValueError):
        BudgetPlan(start=10.0, deadline=5.0)
    with pytest.raises(ValueError):
        BudgetPlan.from_timeout(0.0, 60.0, final_share=1.0)


def test_rungs_climb_by_the_reduction_factor_on_growing_nested_fractions() -> None:
    assert [r.step for r in SCREENING_RUNGS] == [1, 3, 9]
    fractions = [r.fraction for r in SCREENING_RUNGS]
    assert fractions == sorted(fractions) and fractions[-1] < 1.0
    # Small data sets screen on at least MIN_SUBSET_IMAGES, at most all of it.
    assert [r.fraction for r in screening_rungs(TRAIN)] == fractions
    tiny = screening_rungs(MIN_SUBSET_IMAGES // 2)
    assert [r.fraction for r in tiny] == [1.0, 1.0, 1.0]
    middle = screening_rungs(4 * MIN_SUBSET_IMAGES)
    assert [r.fraction for r in middle] == [0.25, 0.25, 0.5]


def test_a_rung_that_cannot_finish_is_not_started() -> None:
    plan = BudgetPlan.from_timeout(0.0, 600.0)  # screening until t = 300
    cost = Cost(seconds_per_image=0.0005, validation_seconds=1.0)
    # 1/8 of 54,000 images, 2 epochs, validated once at the end: 2 * 3.375 + 1 = 7.75 s
    rung = SCREENING_RUNGS[0]
    assert cost.rung_seconds(rung, TRAIN) == pytest.approx(7.75)
    assert plan.rung_fits(cost, rung, TRAIN, now=292.25)
    assert not plan.rung_fits(cost, rung, TRAIN, now=292.3)


def test_screening_simulated_with_a_fake_clock_never_runs_past_its_deadline() -> None:
    """Candidates of different costs go through the rungs as the trial runner does; a third
    of them are promoted past each rung, as successive halving would."""
    plan = BudgetPlan.from_timeout(0.0, 600.0)
    now, finished, refused = 0.0, [], 0
    for number in range(100):
        cost = Cost(0.0002 * (1 + number % 4), 0.5)
        for rung in screening_rungs(TRAIN):
            if not plan.rung_fits(cost, rung, TRAIN, now):
                refused += 1
                break
            now += cost.rung_seconds(rung, TRAIN)
            finished.append(rung.level)
            if number % 3 ** (rung.level + 1):
                break  # not promoted
    assert now <= plan.screening_deadline  # no rung ran past screening's end
    assert refused > 0  # the clock, not the list of candidates, ended screening
    assert finished.count(0) >= 20 and finished.count(2) >= 1


def test_a_candidate_too_slow_for_the_final_phase_is_refused() -> None:
    plan = BudgetPlan.from_timeout(0.0, 600.0, min_final_epochs=5)  # 300 s for the final
    limit = plan.max_seconds_per_image(TRAIN)
    assert Cost(limit).epoch_seconds(TRAIN) == pytest.approx(60.0)  # 5 such epochs in 300 s
    assert BudgetPlan.from_timeout(0.0, 600.0, min_final_epochs=3).max_seconds_per_image(
        TRAIN
    ) == pytest.approx(limit * 5 / 3)


def _pace(size: NetSize) -> float:
    """A made-up host: 0.05 ns per multiply-add, 10 ns per activation value."""
    return 0.05e-9 * size.multiply_adds + 10e-9 * size.activation_values


def test_a_candidates_pace_is_predicted_from_its_size_and_the_measured_candidates() -> None:
    sizes = [NetSize(1_000_000, 100_000), NetSize(8_000_000, 150_000), NetSize(40_000_000, 300_000)]
    measured = [(size, _pace(size)) for size in sizes]
    big, small = NetSize(100_000_000, 400_000), NetSize(300_000, 300_000)
    assert predicted_seconds_per_image(big, measured[:2]) is None  # too few measured
    assert predicted_seconds_per_image(big, measured) == pytest.approx(_pace(big), rel=1e-6)
    # Few multiply-adds but large feature maps: slow, which the best measured pace per
    # multiply-add (0.06 ns, the largest net's) would put at 0.02 ms per image, not 3 ms.
    assert predicted_seconds_per_image(small, measured) == pytest.approx(3.015e-3, rel=1e-6)
    # Bad measurements are ignored, never divided by.
    broken = [*measured[:2], (NetSize(0, 0), 1e-3), (NetSize(5, 5), 0.0)]
    assert predicted_seconds_per_image(big, broken) is None
    # Noisy measurements: still within the margin of the truth.
    noisy = [(size, pace * factor) for (size, pace), factor in zip(measured, (1.3, 0.8, 1.1))]
    assert 1 / PREDICTION_MARGIN < predicted_seconds_per_image(big, noisy) / _pace(big) < 1.3


def test_only_a_candidate_predicted_well_over_the_limit_is_dropped_unmeasured() -> None:
    plan = BudgetPlan.from_timeout(0.0, 600.0, min_final_epochs=5)  # 1.11 ms per image
    limit = plan.max_seconds_per_image(TRAIN)
    sizes = [NetSize(1_000_000, 100_000), NetSize(8_000_000, 150_000), NetSize(40_000_000, 300_000)]
    measured = [(size, _pace(size)) for size in sizes]
    far = predicted_seconds_per_image(NetSize(30_000_000, 250_000), measured)  # 4.0 ms
    assert far > PREDICTION_MARGIN * limit
    near = predicted_seconds_per_image(NetSize(8_000_000, 120_000), measured)  # 1.6 ms: measure
    assert limit < near < PREDICTION_MARGIN * limit


def _screened(number: int, values: dict[int, float], state=optuna.trial.TrialState.PRUNED):
    trial = optuna.trial.create_trial(
        state=state,
        value=max(values.values()) if state == optuna.trial.TrialState.COMPLETE else None,
        params={"x": float(number)},
        distributions={"x": optuna.distributions.FloatDistribution(0, 100)},
        intermediate_values=values,
        user_attrs=dict.fromkeys(COST_ATTRS, 0.001),
    )
    trial.number = number
    return trial


def test_the_winner_is_the_best_where_at_least_two_candidates_competed() -> None:
    complete = optuna.trial.TrialState.COMPLETE
    trials = [
        _screened(0, {1: 0.85, 3: 0.86, 9: 0.87}, complete),  # first there, unopposed
        _screened(1, {1: 0.95}),  # a high score at the lowest fidelity only
        _screened(2, {1: 0.86, 3: 0.89}, complete),  # stopped by the clock, best at step 3
        _screened(3, {1: 0.84, 3: 0.88}),
    ]
    assert screening_winner(trials).params == {"x": 2.0}
    # Once two candidates reach the last rung, it is decided there.
    trials.append(_screened(4, {1: 0.80, 3: 0.85, 9: 0.86}, complete))
    assert screening_winner(trials).params == {"x": 0.0}
    # A final-phase trial is never a screening candidate, nor is one without a measured cost.
    final = _screened(5, {1: 0.99, 3: 0.99, 9: 0.99}, complete)
    final.user_attrs[PHASE_ATTR] = "final"
    unmeasured = _screened(6, {1: 0.99, 3: 0.99, 9: 0.99}, complete)
    unmeasured.user_attrs.clear()
    assert screening_winner([*trials, final, unmeasured]).params == {"x": 0.0}
    assert screening_winner(trials[:1]).params == {"x": 0.0}  # a lone candidate
    assert screening_winner([]) is None


def test_a_known_good_configuration_is_kept_unless_clearly_beaten() -> None:
    complete = optuna.trial.TrialState.COMPLETE
    default = _screened(0, {1: 0.73, 3: 0.76, 9: 0.77}, complete)
    default.system_attrs["fixed_params"] = {"x": 0.0}  # enqueued: the portfolio's
    sampled = _screened(1, {1: 0.79, 3: 0.77, 9: 0.78}, complete)
    assert screening_winner([default, sampled]).params == {"x": 1.0}  # by score alone
    # On 400 validation images one point is noise (one standard error is 2.9 points)...
    assert screening_winner([default, sampled], validation_images=400).params == {"x": 0.0}
    # ... on 6,000 it is not (0.8 points); nor are 8 points on 400.
    assert screening_winner([default, sampled], validation_images=6000).params == {"x": 1.0}
    clear = _screened(2, {1: 0.80, 3: 0.84, 9: 0.85}, complete)
    assert screening_winner([default, sampled, clear], 400).params == {"x": 2.0}


def test_challengers_within_noise_are_told_apart_by_their_last_two_rungs() -> None:
    complete = optuna.trial.TrialState.COMPLETE
    ahead = _screened(1, {1: 0.70, 3: 0.80, 9: 0.881}, complete)  # ahead by 0.2 points...
    steady = _screened(2, {1: 0.70, 3: 0.86, 9: 0.879}, complete)  # ...of this one, 6 behind
    assert screening_winner([ahead, steady]).params == {"x": 1.0}  # by the last score alone
    # On 6,000 validation images 0.2 points is a third of a standard error: a tie, decided by
    # the mean of the last two rungs, and the log says so.
    chosen = choose_winner([ahead, steady], 6000)
    assert chosen.winner is steady
    assert "trial 1 0.8810, trial 2 0.8790 at step 9 are within one standard error" in chosen.note
    assert "trial 2 has the best mean with step 3 (0.8695)" in chosen.note
    # Clear of each other (8 points): the last rung decides, nothing to say.
    behind = _screened(3, {1: 0.70, 3: 0.90, 9: 0.80}, complete)
    assert choose_winner([ahead, behind], 6000) == Selection(ahead)


def test_the_log_says_why_a_higher_challenger_was_set_aside() -> None:
    complete = optuna.trial.TrialState.COMPLETE
    default = _screened(0, {1: 0.73, 3: 0.76, 9: 0.77}, complete)
    default.system_attrs["fixed_params"] = {"x": 0.0}
    sampled = _screened(1, {1: 0.79, 3: 0.79, 9: 0.795}, complete)
    chosen = choose_winner([default, sampled], 400)
    assert chosen.winner is default
    assert (
        "trial 1 screened higher than the first known-good trial 0 by 0.0250, less than the "
        "0.0292 that 400 validation images can tell apart among 1 challengers: trial 0 is kept"
    ) in chosen.note


def test_the_best_of_several_challengers_needs_a_larger_lead() -> None:
    """A 5-minute search on 4,000 images: the small-data default 0.8175 after 4
    epochs, the best of three sampled candidates 0.855. A lead of 3.75 points beats one
    standard error on 400 images (2.6 points), not the best-of-three bar (4.2 points)."""
    complete = optuna.trial.TrialState.COMPLETE
    default = _screened(0, {1: 0.5775, 3: 0.7975, 9: 0.8175}, complete)
    default.system_attrs["fixed_params"] = {"x": 0.0}
    fast = _screened(10, {1: 0.835, 3: 0.8525, 9: 0.855}, complete)
    others = [_screened(n, {1: 0.8, 3: 0.82, 9: 0.8225 + n / 1000}, complete) for n in (2, 8)]
    assert screening_winner([default, fast], 400).params == {"x": 10.0}  # one challenger
    assert screening_winner([default, fast, *others], 400).params == {"x": 0.0}
    # Challengers that stopped at a lower rung were not in the comparison: they do not count.
    pruned = [_screened(n, {1: 0.6}) for n in range(20, 30)]
    assert screening_winner([default, fast, *pruned], 400).params == {"x": 10.0}
    # On 6,000 validation images the same lead is clear of the bar for three (0.7 points).
    assert screening_winner([default, fast, *others], 6000).params == {"x": 10.0}


def test_a_known_good_configuration_that_went_further_keeps_its_last_score() -> None:
    """A 5-minute search on 4,000 images on a slow host: the small-data default
    alone through three rungs, the strong default stopped by the clock after the first."""
    complete = optuna.trial.TrialState.COMPLETE
    slow_starter = _screened(0, {1: 0.6325, 3: 0.805, 9: 0.83}, complete)
    slow_starter.system_attrs["fixed_params"] = {"x": 0.0}
    fast_starter = _screened(1, {1: 0.7375}, complete)
    fast_starter.system_attrs["fixed_params"] = {"x": 1.0}
    assert screening_winner([slow_starter, fast_starter], 400).params == {"x": 0.0}
    # A first rung's score clearly above the 0.83 it reached still wins.
    clear = _screened(2, {1: 0.90}, complete)
    assert screening_winner([slow_starter, clear], 400).params == {"x": 2.0}
    assert screening_winner([slow_starter, fast_starter]).params == {"x": 1.0}  # by score alone


def test_the_final_share_is_a_setting_within_bounds() -> None:
    from automl._errors import AutoMLError
    from automl.search import SearchConfig

    assert SearchConfig(task="digits", final_share=0.7).final_share == 0.7
    for bad in (0.0, 0.95):
        with pytest.raises(AutoMLError, match="--final-share must be in"):
            SearchConfig(task="digits", final_share=bad)
    plan = BudgetPlan.from_timeout(0.0, 600.0, final_share=0.7)
    assert plan.screening_deadline == pytest.approx(180.0) and plan.final_seconds == pytest.approx(
        420.0
    )


def test_small_data_gives_the_final_run_more_unless_screening_would_get_under_a_minute() -> None:
    from automl.search import SearchConfig

    assert SearchConfig(task="digits").final_share is None  # decided once the data is loaded
    assert default_final_share(small_data=False, timeout_s=600) == 0.5
    assert default_final_share(small_data=True, timeout_s=300) == 0.75  # 75 s of screening
    assert default_final_share(small_data=True, timeout_s=240) == 0.75  # 60 s
    assert default_final_share(small_data=True, timeout_s=200) == 0.5  # 50 s would be too few


def test_a_timed_search_screens_as_many_candidates_as_fit_unless_told() -> None:
    from automl.search import SearchConfig

    assert SearchConfig(task="digits").trial_limit is None  # the screening share decides
    assert SearchConfig(task="digits", timeout_s=None).trial_limit == 20
    assert SearchConfig(task="digits", trials=5).trial_limit == 5


def test_a_quick_searchs_final_trains_no_fewer_epochs_than_its_winner_had() -> None:
    from automl.search._study import quick_final_epochs

    three_rungs = _screened(0, {1: 0.8, 3: 0.85, 9: 0.9})  # 2 + 1 + 1 epochs
    assert quick_final_epochs(2, three_rungs) == 4
    assert quick_final_epochs(15, three_rungs) == 15
    assert quick_final_epochs(1, _screened(1, {1: 0.8})) == 2
    unscreened = optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING)
    assert quick_final_epochs(3, unscreened) == 3  # the fallback: nothing screened


def _kind(trial, backbone: str):
    trial.params["backbone"] = backbone
    trial.distributions["backbone"] = optuna.distributions.CategoricalDistribution(
        ("scratch", "efficientnet_lite0")
    )
    trial.system_attrs["fixed_params"] = dict(trial.params)  # both are the portfolio's
    return trial


def test_on_large_data_a_head_must_lead_the_best_cnn_by_what_a_cnns_final_run_gains() -> None:
    complete = optuna.trial.TrialState.COMPLETE
    cnn = _kind(_screened(0, {1: 0.80, 3: 0.85, 9: 0.88}, complete), "scratch")
    head = _kind(_screened(1, {1: 0.89, 3: 0.90, 9: 0.905}, complete), "efficientnet_lite0")
    trials = [cnn, head]
    # Small data (or unknown): the screening scores decide.
    assert choose_winner(trials, 6000, 3_600).winner is head
    # 54,000 training images: 2.5 points are less than a CNN's final gains over its screening.
    selection = choose_winner(trials, 6000, 54_000)
    assert selection.winner is cnn and "a head's not; trial 0 is trained" in selection.note
    far = _kind(_screened(2, {1: 0.93, 3: 0.94, 9: 0.95}, complete), "efficientnet_lite0")
    assert choose_winner([cnn, far], 6000, 54_000).winner is far  # 7 points: the head
