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
