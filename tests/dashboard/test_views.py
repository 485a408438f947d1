"""The page logic, without Streamlit."""

from __future__ import annotations

from dashboard import views
from tests.conftest import assert_import_keeps_out

from .conftest import seed_store


def test_frames_and_figures(sqlite_url: str) -> None:
    store = seed_store(sqlite_url)
    trials = store.trials("alpha")
    frame = views.trials_frame(trials, {})
    assert len(frame) == 12 and "param: optimizer" in frame
    pruned = views.filter_trials(frame, states=["PRUNED"])
    assert set(pruned["State"]) == {"PRUNED"}
    epochs = views.epochs_frame(store.epochs("alpha", [0, 1]))
    figure = views.curves_figure(epochs, trials, "val_loss")
    assert figure.layout.yaxis.title.text == "Validation loss"
    comparison = views.params_comparison(trials[:2])
    assert list(comparison.columns) == ["trial 0", "trial 1"]
    assert set(views.differing_rows(comparison)) <= set(comparison.index)
    front = views.pareto_front(trials)
    assert [t.param_count for t in front] == sorted(t.param_count for t in front)
    assert [t.value for t in front] == sorted(t.value for t in front)
    history = views.history_figure(trials)
    assert history.layout.xaxis.title.text == "Trial number"
    parallel = views.parallel_figure(frame)
    assert parallel.data[0].dimensions[-1].label == "val accuracy"


def test_views_do_not_import_streamlit_or_engines() -> None:
    assert_import_keeps_out(
        "dashboard.views, dashboard.actions", ("streamlit", "tensorflow", "optuna", "keras")
    )
