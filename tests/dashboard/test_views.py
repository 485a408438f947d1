"""The page logic, without Streamlit."""

from __future__ import annotations

import random

from dashboard import views
from storage import TrialPoint, TrialState
from tests.conftest import assert_import_keeps_out

from .conftest import seed_store


def test_frames_and_figures(sqlite_url: str) -> None:
    store = seed_store(sqlite_url)
    trials = store.trials("alpha")
    frame = views.trials_frame(trials, {})
    assert len(frame) == 12 and "param: optimizer" in frame
    assert list(frame["Phase"][:2]) == ["final", "screening"]
    assert frame["Data"][0] == "all" and frame["Data"][1] in {"1/4", "1/2"}
    epochs = views.epochs_frame(store.epochs("alpha", [0, 1]))
    figure = views.curves_figure(epochs, trials, "val_loss")
    assert figure.layout.yaxis.title.text == "Validation loss"
    assert figure.layout.xaxis.title.text == "Epoch"
    by_images = views.curves_figure(epochs, trials, "val_accuracy", x="images_seen")
    assert by_images.layout.xaxis.title.text == "Images seen"
    # Trial 1 screened on 1/8 of the data first: its first point is at 1,000 images, not 8,000.
    assert list(by_images.data[1].x[:3]) == [1000, 2000, 4000]
    # Epochs recorded before images were counted fall back to the epoch axis.
    old = epochs.assign(images_seen=None)
    assert (
        views.curves_figure(old, trials, "val_accuracy", x="images_seen").layout.xaxis.title.text
        == "Epoch"
    )
    comparison = views.params_comparison(trials[:2])
    assert list(comparison.columns) == ["trial 0", "trial 1"]
    assert set(views.differing_rows(comparison)) <= set(comparison.index)
    front = views.pareto_front(trials)
    completed = [
        t
        for t in trials
        if t.state is TrialState.COMPLETE and t.value is not None and t.param_count
    ]
    beaten = {  # by another trial at least as small and at least as accurate, and better in one
        t.number
        for t in completed
        for o in completed
        if o.param_count <= t.param_count
        and o.value >= t.value
        and (o.param_count, o.value) != (t.param_count, t.value)
    }
    assert front and {t.number for t in front} == {
        t.number for t in completed if t.number not in beaten
    }
    assert [t.param_count for t in front] == sorted(t.param_count for t in front)
    assert [t.value for t in front] == sorted(t.value for t in front)
    history = views.history_figure(trials)
    assert history.layout.xaxis.title.text == "Trial number"
    parallel = views.parallel_figure(frame)
    assert parallel.data[0].dimensions[-1].label == "val accuracy"


def test_the_pareto_front_is_the_trials_nothing_beats_on_size_and_accuracy() -> None:
    complete, pruned = TrialState.COMPLETE, TrialState.PRUNED
    points = [
        TrialPoint(0, complete, 0.90, 1_000),  # front: the smallest
        TrialPoint(1, complete, 0.85, 2_000),  # beaten by 0: bigger and worse
        TrialPoint(2, complete, 0.93, 5_000),  # front
        TrialPoint(3, pruned, 0.99, 500),  # not completed: never on the front
        TrialPoint(4, complete, 0.93, 9_000),  # beaten by 2: bigger, no better
        TrialPoint(5, complete, 0.95, 20_000),  # front: the most accurate
        TrialPoint(6, complete, None, 100),  # no score
    ]
    assert [p.number for p in views.pareto_front(points)] == [0, 2, 5]
    assert views.pareto_front(points[3:4]) == []


def test_selection_survives_paging_and_big_charts_sample() -> None:
    # Trials 3 and 60 picked on other pages stay; on this page (10-19) 12 is dropped, 15 added.
    chosen = views.merge_selection([3, 12, 60], range(10, 20), [15])
    assert chosen == [3, 60, 15]
    assert views.merge_selection(chosen, range(10, 20), [15]) == chosen  # a rerun changes nothing
    assert views.trial_numbers([17, "5", "x", 5]) == ([5, 17], ["x"])
    assert views.trial_numbers(["trial 12 (champion)"]) == ([12], [])

    # 20,000 trials: the history draws a sample, keeps every improvement, says so.
    rng = random.Random(0)
    states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    points = [
        TrialPoint(n, states[n % 3], rng.random() if n % 3 != 2 else None, 1000 + n)
        for n in range(20_000)
    ]
    history = views.history_figure(points)
    drawn = sum(len(trace.x) for trace in history.data[:-1])
    assert drawn <= views.MAX_POINTS + 50 and "of 13,334 trials drawn" in history.layout.title.text
    best_line = history.data[-1]
    assert best_line.y[-1] == max(p.value for p in points if p.state is TrialState.COMPLETE)
    (completed_trace,) = [t for t in history.data if t.name == "complete"]
    improvers = set(completed_trace.x)  # every new best is among the drawn completed trials
    best = -1.0
    for p in points:
        if p.state is TrialState.COMPLETE and p.value > best:
            best = p.value
            assert p.number in improvers
    pareto = views.pareto_figure(points)
    assert len(pareto.data[0].x) <= views.MAX_POINTS + len(pareto.data[1].x)
    assert "drawn at random" in pareto.layout.title.text
    sample = views.analysis_sample(points)
    completed = sorted(
        (p for p in points if p.state is TrialState.COMPLETE), key=lambda p: -p.value
    )
    assert len(sample) == views.ANALYSIS_SAMPLE and sample == sorted(sample)
    assert {p.number for p in completed[: views.ANALYSIS_SAMPLE // 4]} <= set(sample)
    assert views.analysis_sample(points) == sample  # seeded: the cache key stays put
    small = points[:30]
    assert views.analysis_sample(small) == [
        p.number for p in small if p.state is TrialState.COMPLETE
    ]
    assert "drawn" not in views.history_figure(small).layout.title.text


def test_views_do_not_import_streamlit_or_engines() -> None:
    assert_import_keeps_out(
        "dashboard.views, dashboard.actions", ("streamlit", "tensorflow", "optuna", "keras")
    )


def test_importance_from_the_store_finds_the_parameter_that_matters(big_url: str) -> None:
    """The generated study's accuracy falls with the distance of the learning rate from 3e-3:
    fANOVA on the store's records ranks it first (per-block filter lists are left out)."""
    from dashboard import actions
    from storage import TrialStore

    store = TrialStore(big_url)
    sample = views.analysis_sample(store.trial_points("big").points)
    importances = actions.importances(store.trials_by_numbers("big", sample))
    assert next(iter(importances)) == "learning_rate" and importances["learning_rate"] > 0.5
    assert "filters" not in importances and "optimizer" in importances
