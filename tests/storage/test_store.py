from __future__ import annotations

import math
import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage import PredictionRecord, StorageError, TrialFilter, TrialState, TrialStore
from tests.conftest import assert_import_keeps_out


def _store_with_trials(url: str) -> TrialStore:
    store = TrialStore(url)
    store.ensure_study("s1", "digits", 1, {"trials": 3})
    for number, (state, value) in enumerate(
        [(TrialState.COMPLETE, 0.9), (TrialState.PRUNED, 0.5), (TrialState.COMPLETE, 0.95)]
    ):
        trial = store.start_trial("s1", number)
        store.set_trial_params(trial.id, {"n_blocks": number + 1}, 1000 * (number + 1))
        for epoch in (1, 2):
            store.record_epoch(trial.id, epoch, seconds=0.5, loss=1.0 / epoch, val_accuracy=value)
        store.finish_trial(trial.id, state, value=value, best_epoch=2)
    return store


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_round_trip_on_each_backend(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    store = _store_with_trials(url)
    trials = store.trials("s1")
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert trials[2].params == {"n_blocks": 3} and trials[2].param_count == 3000
    assert all(t.started_at.tzinfo is not None for t in trials)
    assert store.best_trial("s1").number == 2
    epochs = store.epochs("s1", [0])
    assert [(e.trial_number, e.epoch) for e in epochs] == [(0, 1), (0, 2)]
    summary = store.list_studies()[0]
    assert summary.n_trials == 3 and summary.best_value == pytest.approx(0.95)
    assert summary.counts[TrialState.PRUNED] == 1
    # Records are frozen: callers cannot mutate stored state through them.
    with pytest.raises(AttributeError):
        trials[0].value = 1.0  # type: ignore[misc]
    # The prediction log: newest window first by time, timezone-aware, per model.
    now = datetime.now(timezone.utc)
    logged = [
        PredictionRecord("m", "ab" * 32, f"r{i}", "/predict", 200, 2.5, now - timedelta(minutes=i),
                         "cat", 0.75, "s1", 2)
        for i in range(5)
    ]  # fmt: skip
    store.record_predictions([*logged, PredictionRecord("n", "cd" * 32, "x", "/predict", 400,
                                                        1.0, now)])  # fmt: skip
    recent = store.predictions("m", now - timedelta(minutes=2, seconds=30))
    assert [r.request_id for r in recent] == ["r2", "r1", "r0"]  # oldest first
    assert recent[-1] == logged[0] and recent[-1].created_at.tzinfo is not None
    assert [r.request_id for r in store.predictions("m", now - timedelta(hours=1), limit=2)] == [
        "r1", "r0",
    ]  # fmt: skip
    assert set(store.served_models()) == {"m", "n"}
    store.close()


def test_tables_are_prefixed_and_versioned(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    tables = set(inspect(store.engine).get_table_names())
    assert {"automl_studies", "automl_trials", "automl_epochs", "automl_artifacts"} <= tables
    assert all(t.startswith("automl_") for t in tables)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM automl_alembic_version")).scalar()
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    # Re-opening an existing store is a no-op migration and keeps the data.
    store.ensure_study("kept", "digits", 1, {})
    assert TrialStore(sqlite_url).study_names() == ["kept"]


def test_epoch_rows_are_unique_and_nan_becomes_null(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    store.ensure_study("s", "digits", 1, {})
    trial = store.start_trial("s", 0)
    store.record_epoch(trial.id, 1, seconds=1.0, loss=math.nan, val_accuracy=0.1)
    store.record_epoch(trial.id, 1, seconds=2.0, loss=0.3, val_accuracy=0.2)
    (epoch,) = store.epochs("s")
    assert epoch.loss == pytest.approx(0.3) and epoch.seconds == 2.0
    store.record_epoch(trial.id, 2, seconds=1.0, loss=math.inf)
    assert store.epochs("s")[1].loss is None
    assert store.trial("s", 0).epochs_run == 2


def test_study_task_mismatch_is_refused(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    store.ensure_study("s", "digits", 1, {})
    assert store.ensure_study("s", "digits", 1, {}).task == "digits"
    with pytest.raises(StorageError, match="already exists for task 'digits'"):
        store.ensure_study("s", "mnist", 1, {})


def test_unknown_study_lists_known_ones(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    store.ensure_study("alpha", "digits", 1, {})
    with pytest.raises(StorageError, match="known studies: alpha"):
        store.trials("beta")


def test_failed_write_rolls_back(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    store.ensure_study("s", "digits", 1, {})
    trial = store.start_trial("s", 0)
    with pytest.raises(ValueError):
        store.finish_trial(trial.id, TrialState.RUNNING)
    assert store.trial("s", 0).state is TrialState.RUNNING


def test_bad_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="malformed storage URL"):
        TrialStore("not a url")
    with pytest.raises(StorageError, match="unusable storage URL"):
        TrialStore("nosuchdb://x/y")
    with pytest.raises(StorageError, match="does not exist"):
        TrialStore(f"sqlite:///{tmp_path}/missing/dir/a.db")
    with pytest.raises(StorageError, match="no database"):
        TrialStore(f"sqlite:///{tmp_path}/absent.db", create=False)
    with pytest.raises(StorageError, match="cannot open database"):
        TrialStore("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_a_look_at_the_storage_creates_and_changes_nothing(tmp_path: Path) -> None:
    """What a search checks before it reads its data: every bad URL fails as opening it would,
    and a good one is left as it was (no new file, no journal switched to WAL)."""
    notes = tmp_path / "notes.db"
    notes.write_text("my shopping list\n")
    for url, message in [
        ("not a url", "malformed storage URL"),
        ("nosuchdb://x/y", "unusable storage URL"),
        (f"sqlite:///{tmp_path}/missing/dir/a.db", "does not exist"),
        (f"sqlite:///{notes}", "cannot open database .*: file is not a database"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open database"),
    ]:
        with pytest.raises(StorageError, match=message):
            TrialStore.check(url)
    assert notes.read_text() == "my shopping list\n"
    TrialStore.check(f"sqlite:///{tmp_path}/new.db")
    assert not (tmp_path / "new.db").exists()
    with sqlite3.connect(tmp_path / "old.db") as old:  # an existing database, not yet WAL
        old.execute("CREATE TABLE t (x)")
    TrialStore.check(f"sqlite:///{tmp_path}/old.db")
    with sqlite3.connect(tmp_path / "old.db") as old:
        assert old.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_whether_a_store_holds_a_study_is_asked_without_creating_it(tmp_path: Path) -> None:
    new = f"sqlite:///{tmp_path}/new.db"
    assert not TrialStore.holds_study(new, "a")
    assert not (tmp_path / "new.db").exists()
    with sqlite3.connect(tmp_path / "other.db") as other:  # a database, not ours
        other.execute("CREATE TABLE t (x)")
    assert not TrialStore.holds_study(f"sqlite:///{tmp_path}/other.db", "a")
    with sqlite3.connect(tmp_path / "other.db") as other:
        assert other.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    store = TrialStore(f"sqlite:///{tmp_path}/ours.db")
    store.ensure_study("a", "digits", 1, {})
    assert TrialStore.holds_study(store.url, "a") and not TrialStore.holds_study(store.url, "b")
    with pytest.raises(StorageError, match="cannot open database"):
        TrialStore.holds_study("postgresql+psycopg://nobody@127.0.0.1:1/none", "a")


def test_artifacts_and_interrupted_trials(sqlite_url: str) -> None:
    store = _store_with_trials(sqlite_url)
    store.save_artifact("s1", 2, "/x/trial-2.keras", 10, "ab" * 32)
    assert store.best_trial("s1", with_artifact=True).number == 2
    store.delete_artifact("s1", 2)
    assert store.artifacts("s1") == [] and store.best_trial("s1", with_artifact=True) is None
    running = store.start_trial("s1", 3)
    assert store.mark_interrupted("s1", {3: TrialState.FAIL}) == 1
    assert store.trial("s1", running.number).state is TrialState.FAIL


def test_an_older_schema_is_migrated_in_place(sqlite_url: str) -> None:
    """A database written by the first release (revision 0001) opens and keeps its data."""
    from alembic import command
    from sqlalchemy import create_engine

    from storage._migrations import alembic_config, current_revision, head_revision

    engine = create_engine(sqlite_url)
    command.upgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO automl_studies (name, task, direction, search_space_version, config, "
                "created_at) VALUES ('old', 'digits', 'maximize', 1, '{}', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO automl_trials (study_id, number, state, params, epochs_run, "
                "started_at) VALUES (1, 0, 'COMPLETE', '{}', 1, '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO automl_epochs (trial_id, epoch, seconds, recorded_at) "
                "VALUES (1, 1, 2.0, '2026-01-01 00:00:00')"
            )
        )
    assert current_revision(engine) == "0001"
    store = TrialStore(sqlite_url)
    assert current_revision(store.engine) == head_revision() != "0001"
    assert store.study_names() == ["old"]
    assert store.exports("old") == []
    # Trials of earlier releases came from trial-count searches on all the data.
    (old,) = store.trials("old")
    assert (old.phase, old.data_fraction, old.images_seen) == ("search", 1.0, 0)
    (epoch,) = store.epochs("old")
    assert (epoch.data_fraction, epoch.images_seen) == (1.0, None)


def test_fidelity_is_recorded_per_epoch_and_per_trial(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    store.ensure_study("s", "digits", 3, {})
    trial = store.start_trial("s", 0, phase="screening")
    store.record_epoch(trial.id, 1, seconds=1.0, data_fraction=0.125, images_seen=100)
    store.record_epoch(trial.id, 2, seconds=1.0, data_fraction=0.25, images_seen=300)
    record = store.trial("s", 0)
    assert (record.phase, record.data_fraction, record.images_seen) == ("screening", 0.25, 300)
    assert [(e.data_fraction, e.images_seen) for e in store.epochs("s")] == [
        (0.125, 100),
        (0.25, 300),
    ]
    assert store.start_trial("s", 1, phase="final").phase == "final"


def test_storage_imports_neither_tensorflow_nor_optuna() -> None:
    assert_import_keeps_out("storage", ("tensorflow", "keras", "optuna", "streamlit"))


def _generated(url: str, n_trials: int = 400) -> TrialStore:
    """A generated timed-search study (the dashboard benchmark's generator, smaller)."""
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    from bench_dashboard import build_study

    build_study(url, "big", n_trials=n_trials, n_epochs=4, seed=1, param_values=False)
    return TrialStore(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_trial_pages_filter_sort_and_count_in_the_database(
    backend: str, request: pytest.FixtureRequest
) -> None:
    store = _generated(request.getfixturevalue(f"{backend}_url"))
    every = store.trials("big")

    # Paging by value, best first: pages join up into the full order, ties by number, and
    # the trials without a value (failed) come last.
    pages = [
        store.trial_page("big", sort="value", descending=True, offset=o, limit=70)
        for o in range(0, 420, 70)
    ]
    assert {p.total for p in pages} == {400} and {p.study_total for p in pages} == {400}
    numbers = [t.number for p in pages for t in p.trials]
    expected = sorted(every, key=lambda t: (t.value is None, -(t.value or 0), t.number))
    assert numbers == [t.number for t in expected]
    evaluations = {n: store.evaluation("big", n) for n in numbers[:70]}
    assert pages[0].evaluated == {n: e.accuracy for n, e in evaluations.items() if e}
    assert pages[0].evaluated, "the three evaluated trials are the best ones"

    # Filters: state, phase, value range (trials without a value pass a range from 0).
    where = TrialFilter(states=("COMPLETE", "FAIL"), phases=("screening",), value_range=(0, 0.85))
    page = store.trial_page("big", where, limit=1000)
    wanted = [
        t.number for t in every
        if t.state.value in ("COMPLETE", "FAIL") and t.phase == "screening"
        and (t.value is None or t.value <= 0.85)
    ]  # fmt: skip
    assert [t.number for t in page.trials] == wanted and page.total == len(wanted)
    trained = store.trial_page("big", TrialFilter(min_epochs=3), limit=1000)
    assert 0 < trained.total == sum(t.epochs_run >= 3 for t in every) < len(every)
    above = store.trial_page("big", TrialFilter(value_range=(0.8, 1.0)), limit=1000)
    assert all(t.value is not None and t.value >= 0.8 for t in above.trials)

    # Parameters: categorical values as the store hands them back, numeric ranges, sorting.
    # The generator writes trials in bulk, without the store's value lists: read from the
    # trials themselves, then from the lists rebuilt, the answers are the same.
    names = ("optimizer", "batch_norm", "dense_units", "filters", "learning_rate")
    scanned = {n: (store.param_values("big", n), store.param_bounds("big", n)) for n in names}
    store.rebuild_param_values("big")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM automl_param_values")).scalar() > 10
        assert conn.execute(text("SELECT count(*) FROM automl_param_ranges")).scalar() >= 3
    assert {n: (store.param_values("big", n), store.param_bounds("big", n)) for n in names} == (
        scanned
    )
    assert {"optimizer", "learning_rate", "filters", "batch_norm"} <= set(store.param_names("big"))
    optimizers = store.param_values("big", "optimizer")
    assert [label for _, label in optimizers] == ["adam", "adamw", "sgd"]
    sgd = next(raw for raw, label in optimizers if label == "sgd")
    page = store.trial_page("big", TrialFilter(param="optimizer", param_values=(sgd,)), limit=1000)
    assert [t.number for t in page.trials] == [
        t.number for t in every if t.params["optimizer"] == "sgd"
    ]
    norms = store.param_values("big", "batch_norm")
    assert [label for _, label in norms] == ["false", "true"]
    on = store.trial_page(
        "big", TrialFilter(param="batch_norm", param_values=(norms[1][0],)), limit=1000
    )
    assert on.total == sum(t.params["batch_norm"] for t in every)
    units = store.param_values("big", "dense_units")
    assert [label for _, label in units] == ["0", "64", "128", "256"]  # numbers in order
    assert store.param_values("big", "filters", limit=1000)[0][1] == "16"  # a list, as text
    assert store.param_bounds("big", "filters") is None
    assert store.param_values("big", "learning_rate") is None  # too many: a range instead
    rates = [t.params["learning_rate"] for t in every]
    assert store.param_bounds("big", "learning_rate") == (min(rates), max(rates))
    assert store.param_kind("big", "learning_rate") is float
    assert store.param_bounds("big", "optimizer") is None
    middle = store.trial_page(
        "big", TrialFilter(param="learning_rate", param_range=(1e-3, 1e-2)), limit=1000
    )
    assert middle.total == sum(1e-3 <= t.params["learning_rate"] <= 1e-2 for t in every)
    by_rate = store.trial_page("big", sort="param:learning_rate", limit=5)
    assert [t.number for t in by_rate.trials] == [
        t.number for t in sorted(every, key=lambda t: t.params["learning_rate"])[:5]
    ]
    with pytest.raises(StorageError, match="cannot sort"):
        store.trial_page("big", sort="params; DROP TABLE")

    # Reads of just the trials shown; the stamp moves when a trial changes.
    assert [t.number for t in store.trials_by_numbers("big", [399, 5, 12345, 5])] == [5, 399]
    everything = store.trial_points("big")
    assert [p.number for p in everything.points] == list(range(400))
    assert everything.finished == sum(t.value is not None for t in every)  # none running
    assert everything.completed == sum(t.state is TrialState.COMPLETE for t in every)

    # Past a limit the database picks the points: every best-so-far step, the whole size
    # front and the best by value, and a spread of the rest, the same on every read.
    picked = store.trial_points("big", limit=100, keep_best=10)
    assert 80 <= len(picked.points) <= 120 and picked == store.trial_points("big", 100, 10)
    assert (picked.finished, picked.completed) == (everything.finished, everything.completed)
    numbers = [p.number for p in picked.points]
    assert numbers == sorted(numbers) and numbers[0] < 40 and numbers[-1] > 360
    complete = [p for p in everything.points if p.state is TrialState.COMPLETE]
    steps, best = [], -1.0
    for p in complete:
        if p.value > best:
            steps.append(p.number)
            best = p.value
    top = sorted(complete, key=lambda p: (-p.value, p.number))[:10]
    front, best = [], -1.0
    for p in sorted(complete, key=lambda p: (p.param_count, -p.value)):
        if p.value > best:
            front.append(p.number)
            best = p.value
    assert len(front) > 2 and set(steps) | set(front) | {p.number for p in top} <= set(numbers)
    before = store.study_stamp("big")
    assert before.n_trials == 400 and before.updated_at is not None
    running = store.start_trial("big", 400, phase="screening")
    after = store.study_stamp("big")
    assert after.n_trials == 401 and after.updated_at > before.updated_at
    store.record_epoch(running.id, 1, seconds=1.0, val_accuracy=0.5)
    assert store.study_stamp("big").updated_at > after.updated_at
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_recorded_parameters_keep_their_value_lists_and_ranges(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Trials recorded through the store keep each parameter's values and range as they go:
    the trials page reads them without a scan, and they filter as the scan's would."""
    store = TrialStore(request.getfixturevalue(f"{backend}_url"))
    store.ensure_study("s", "digits", 1, {})
    for number, (optimizer, units, rate, norm) in enumerate(
        [("adam", 64, 1e-3, True), ("sgd", 0, 3e-2, False), ("adam", 256, 2e-4, True)]
    ):
        trial = store.start_trial("s", number)
        params = {"optimizer": optimizer, "dense_units": units, "learning_rate": rate,
                  "batch_norm": norm, "filters": [32, 64, 128][: number + 1]}  # fmt: skip
        store.set_trial_params(trial.id, params, 1000)
        store.set_trial_params(trial.id, params, 1000)  # a retried write adds nothing
    with store.engine.connect() as conn:
        listed = conn.execute(
            text("SELECT name, count(*) FROM automl_param_values GROUP BY name ORDER BY name")
        ).all()
    assert listed == [("batch_norm", 2), ("dense_units", 3), ("filters", 3), ("optimizer", 2)]
    assert [label for _, label in store.param_values("s", "optimizer")] == ["adam", "sgd"]
    assert [label for _, label in store.param_values("s", "dense_units")] == ["0", "64", "256"]
    assert [label for _, label in store.param_values("s", "batch_norm")] == ["false", "true"]
    assert store.param_bounds("s", "learning_rate") == (2e-4, 3e-2)
    assert store.param_bounds("s", "dense_units") == (0.0, 256.0)
    sgd = next(raw for raw, label in store.param_values("s", "optimizer") if label == "sgd")
    page = store.trial_page("s", TrialFilter(param="optimizer", param_values=(sgd,)))
    assert [t.number for t in page.trials] == [1]
    true = next(raw for raw, label in store.param_values("s", "batch_norm") if label == "true")
    page = store.trial_page("s", TrialFilter(param="batch_norm", param_values=(true,)))
    assert [t.number for t in page.trials] == [0, 2]
