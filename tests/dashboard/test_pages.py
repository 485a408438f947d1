"""Every page through Streamlit's AppTest, on seeded and real stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from storage import TrialStore
from tests.conftest import copy_study

from .conftest import APP, PAGES

TIMEOUT = 60


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.run()
    if page != PAGES[0]:
        app.switch_page(page)
        app.run()
    return app


def texts(app: AppTest) -> str:
    parts = [e.value for e in (*app.markdown, *app.caption, *app.info, *app.warning, *app.success)]
    parts += [m.label for m in app.metric] + [t.value for t in app.title]
    return "\n".join(map(str, parts))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(seeded_url: str, page: str) -> None:
    app = open_page(page)
    assert not app.exception, app.exception


def test_studies_page_lists_both_studies(seeded_url: str) -> None:
    app = open_page(PAGES[0])
    frame = app.dataframe[0].value
    assert list(frame["Study"]) == ["alpha", "beta"]
    alpha = frame.set_index("Study").loc["alpha"]
    assert alpha["Trials"] == 12 and alpha["Running"] == 1 and alpha["Status"] == "running"
    assert "Every trial of **beta** failed" in texts(app)


def test_trials_page_filters(seeded_url: str) -> None:
    app = open_page(PAGES[1])
    app.sidebar.selectbox(key="study_picker").set_value("alpha").run()
    assert len(app.dataframe[0].value) == 12
    app.sidebar.multiselect(key="filter_states").set_value(["PRUNED"]).run()
    frame = app.dataframe[0].value
    assert len(frame) == 3 and set(frame["State"]) == {"PRUNED"}
    app.sidebar.multiselect(key="filter_states").set_value(
        ["COMPLETE", "PRUNED", "FAIL", "RUNNING"]
    )
    app.sidebar.selectbox(key="filter_param").set_value("optimizer").run()
    app.sidebar.multiselect(key="filter_values_optimizer").set_value(["adam"]).run()
    assert set(app.dataframe[0].value["param: optimizer"]) == {"adam"}
    app.sidebar.slider(key="filter_value").set_value((0.9, 1.0)).run()
    assert all(app.dataframe[0].value["Val accuracy"] >= 0.9)
    app.sidebar.slider(key="filter_value").set_value((0.0, 1.0))
    app.sidebar.selectbox(key="filter_param").set_value("(any)")
    app.sidebar.multiselect(key="filter_phases").set_value(["final"]).run()
    assert list(app.dataframe[0].value["Trial"]) == [0]
    # A numeric parameter with many values is filtered by range, in the database.
    app.sidebar.selectbox(key="filter_param").set_value("learning_rate").run()
    assert not app.exception and app.sidebar.slider(key="filter_range_learning_rate")


def test_compare_shows_selected_curves(seeded_url: str) -> None:
    app = open_page(PAGES[2])
    app.sidebar.selectbox(key="study_picker").set_value("alpha").run()
    app.multiselect(key="compare_picker").set_value([0, 1]).run()
    assert not app.exception
    chart = app.get("plotly_chart")[0]
    import json

    figure = json.loads(chart.proto.spec)
    names = [trace.get("name", "") for trace in figure["data"]]
    assert "trial 0 (complete)" in names and "trial 1 (pruned)" in names
    assert any("pruned at epoch" in n for n in names)  # the ✕ marker for the pruned trial
    assert figure["layout"]["xaxis"]["title"]["text"] == "Epoch"

    app.radio(key="x_axis").set_value("images_seen").run()
    assert not app.exception
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert figure["layout"]["xaxis"]["title"]["text"] == "Images seen"


def test_empty_and_broken_states(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOML_STORAGE", f"sqlite:///{tmp_path / 'missing.db'}")
    app = open_page(PAGES[0])
    assert not app.exception and "No trial store to show" in texts(app)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    TrialStore(empty).close()
    monkeypatch.setenv("AUTOML_STORAGE", empty)
    for page in PAGES:
        app = open_page(page)
        expected = "Nothing has been served yet" if "monitoring" in page else "No studies yet"
        assert not app.exception and expected in texts(app), page
    monkeypatch.setenv("AUTOML_STORAGE", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = open_page(PAGES[1])
    assert not app.exception and "cannot open database" in texts(app)
    notes = tmp_path / "notes.db"
    notes.write_text("not a database")
    monkeypatch.setenv("AUTOML_STORAGE", f"sqlite:///{notes}")
    app = open_page(PAGES[0])
    assert not app.exception and "file is not a database" in texts(app)


def test_only_failed_trials_study(seeded_url: str) -> None:
    for page in PAGES[2:]:
        if "monitoring" in page:  # it picks a served model, not a study
            continue
        app = open_page(page)
        app.sidebar.selectbox(key="study_picker").set_value("beta").run()
        assert not app.exception, page


def test_promote_button_changes_the_champion(digits_study, tmp_path: Path, monkeypatch) -> None:
    config = digits_study
    url = copy_study(config, tmp_path)
    monkeypatch.setenv("AUTOML_STORAGE", url)
    store = TrialStore(url)
    best = store.best_trial(config.name, with_artifact=True)
    assert store.champion(config.name) is None
    app = open_page(PAGES[4])
    app.sidebar.selectbox(key="study_picker").set_value(config.name).run()
    app.selectbox[0].set_value(best.number).run()
    app.text_input(key="promote_note").set_value("from the test").run()
    app.button(key="promote").click().run()
    assert not app.exception, app.exception
    assert store.champion(config.name).number == best.number
    assert store.promotions(config.name)[0].note == "from the test"
    assert store.evaluation(config.name, best.number) is not None  # evaluated on promotion
    assert f"Trial {best.number} is now the champion." in texts(app)


def _select_rows(app: AppTest, rows: list[int]) -> None:
    """What a click in the grid's selection column sends back (AppTest cannot click)."""
    table = app.dataframe[0]
    app.session_state[table.key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    app.run()


def test_selection_is_kept_across_pages_and_reaches_compare(big_url: str) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["study"] = "big"
    app.switch_page(PAGES[1]).run()
    assert list(app.dataframe[0].value["Trial"]) == list(range(50))
    assert "Trials 1–50 of 300 matching (300 in the study)" in texts(app)
    _select_rows(app, [0, 2])
    assert app.session_state["compare"] == [0, 2]

    app.number_input[0].set_value(2).run()  # page 2: trials 50-99
    assert list(app.dataframe[0].value["Trial"]) == list(range(50, 100))
    assert app.session_state["compare"] == [0, 2]
    _select_rows(app, [1])
    assert app.session_state["compare"] == [0, 2, 51]

    app.number_input[0].set_value(1).run()  # back on page 1, its two rows are still ticked
    assert app.session_state["compare"] == [0, 2, 51]
    _select_rows(app, [2])  # untick trial 0 there
    assert app.session_state["compare"] == [2, 51]
    assert "Selected trials 2, 51" in texts(app)

    # Best first, in the database: the page's order and the total follow the filter.
    app.sidebar.selectbox(key="sort_by").set_value("Val accuracy").run()
    values = list(app.dataframe[0].value["Val accuracy"])
    assert values == sorted(values, reverse=True) and app.session_state["compare"] == [2, 51]
    app.sidebar.multiselect(key="filter_states").set_value(["PRUNED"]).run()
    assert set(app.dataframe[0].value["State"]) == {"PRUNED"}

    app.switch_page(PAGES[2]).run()  # Compare reads just the picked trials
    assert not app.exception
    assert app.multiselect(key="compare_picker").value == [2, 51]
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert {t["name"].split(" (")[0] for t in figure["data"]} >= {"trial 2", "trial 51"}
    # Any trial can be typed in, not only the listed best and latest; a wrong one is named.
    app.multiselect(key="compare_picker").set_value([2, 51, "123", "999"]).run()
    assert "Not a trial of **big**: 999" in texts(app)
    figure = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert any(t["name"].startswith("trial 123 ") for t in figure["data"])

    app.switch_page(PAGES[4]).run()  # Trial & champion: the champion, typed numbers too
    picker = app.selectbox(key="trial_picker")
    assert not app.exception and picker.format_func(picker.value).endswith("(champion)")
    # The latest trials are listed too (typing a number is AppTest-proof only in the browser).
    picker.set_value(299).run()
    assert not app.exception and app.dataframe[0].value.columns[0] == "trial 299"

    app.switch_page(PAGES[3]).run()  # Analysis on the whole study
    assert not app.exception, app.exception


def test_analysis_draws_what_the_database_picks_on_a_big_study(
    big_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_POINTS the store picks the points: the charts say they sample, and their
    best-so-far line and size front are still the whole study's."""
    from dashboard import views

    monkeypatch.setattr(views, "MAX_POINTS", 60)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.session_state["study"] = "big"
    app.switch_page(PAGES[3]).run()
    assert not app.exception, app.exception
    charts = {
        (spec := json.loads(chart.proto.spec))["layout"]["title"]["text"].split("<br>")[0]: spec
        for chart in app.get("plotly_chart")
    }
    history, pareto = charts["Optimisation history"], charts["Accuracy vs model size"]
    every = TrialStore(big_url).trials("big")
    finished = [t for t in every if t.value is not None and t.state.value != "RUNNING"]
    complete = [t for t in every if t.state.value == "COMPLETE" and t.value is not None]
    assert f"of {len(finished):,} trials drawn" in history["layout"]["title"]["text"]
    markers = sum(len(t["x"]) for t in history["data"][:-1] if "x" in t)
    assert markers < 100
    best_line = history["data"][-1]
    assert best_line["y"][-1] == max(t.value for t in complete)
    front = views.pareto_front(complete)
    assert pareto["data"][1]["x"] == [t.param_count for t in front]


def test_the_test_images_behind_a_cell_and_a_saliency_map(
    digits_study, tmp_path: Path, monkeypatch
) -> None:
    """The search evaluated its best trial: its answer for every test image is stored, the
    most confused cell is shown first, another cell or a class's mistakes on demand, and one
    image is explained (a saliency map beside its probabilities)."""
    config = digits_study
    url = copy_study(config, tmp_path)
    monkeypatch.setenv("AUTOML_STORAGE", url)
    store = TrialStore(url)
    best = store.best_trial(config.name, with_artifact=True)
    evaluation = store.evaluation(config.name, best.number)
    assert evaluation.images_file and len(
        store.test_predictions(config.name, best.number, limit=10_000)
    ) == sum(evaluation.support)
    app = open_page(PAGES[4])
    app.sidebar.selectbox(key="study_picker").set_value(config.name).run()
    app.selectbox[0].set_value(best.number).run()
    assert not app.exception, app.exception
    true, predicted = (
        app.selectbox(key="cell_true").value,
        app.selectbox(key="cell_predicted").value,
    )
    names = evaluation.class_names
    confusion = evaluation.confusion
    assert confusion[names.index(true)][names.index(predicted)] == max(
        confusion[t][p] for t in range(len(names)) for p in range(len(names)) if t != p
    )
    images = app.get("image")
    assert images and f"{true} → {predicted}" in str(images[0].proto)
    # A click on a cell of the matrix (what the browser sends back: AppTest cannot click).
    app.session_state["confusion_click"] = {
        "selection": {
            "points": [{"customdata": [3, 5]}],
            "point_indices": [0],
            "box": [],
            "lasso": [],
        }
    }
    app.run()
    assert (app.selectbox(key="cell_true").value, app.selectbox(key="cell_predicted").value) == (
        names[3],
        names[5],
    )
    app.radio(key="gallery_mode").set_value("A class's mistakes").run()
    assert not app.exception
    app.button(key="explain").click().run()
    assert not app.exception, app.exception
    assert any(c.value.startswith("Grad-CAM on layer") for c in app.caption)
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert any(c["layout"]["title"]["text"] == "Class probabilities" for c in charts)
