"""The store's data-quality tables: a report replaced whole, findings read a page at a time in
rank order, decisions on images kept per study; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from storage import DataFinding, StorageError, TrialStore


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> TrialStore:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    store = TrialStore(url)
    store.ensure_study("s", "digits", 1, {})
    return store


def _finding(kind: str, n: int) -> DataFinding:
    return DataFinding(kind, [f"train/{n}", f"test/{n}"], ["train", "test"], [n, n + 1], n / 10)


def test_a_report_is_replaced_whole_and_read_a_page_at_a_time(store: TrialStore) -> None:
    assert store.data_report("s") is None
    store.save_data_report("s", images=9, summary={"old": True}, findings=[_finding("near", 0)])
    findings = [_finding("exact", n) for n in range(7)] + [_finding("label", 9)]
    report = store.save_data_report(
        "s", images=10, summary={"leakage": {"test_images": 2}}, findings=findings,
        overrides_sha256="ab" * 32, images_file="/tmp/x.npy",
    )  # fmt: skip
    assert report.images == 10 and report.summary == {"leakage": {"test_images": 2}}
    assert store.data_report("s") == report
    assert store.data_finding_counts("s") == {"exact": 7, "near": 0, "label": 1, "outlier": 0}
    page = store.data_findings("s", "exact", offset=2, limit=3)
    assert [f.paths[0] for f in page] == ["train/2", "train/3", "train/4"]
    assert page[0] == findings[2]
    with pytest.raises(StorageError, match="unknown finding kinds"):
        store.save_data_report("s", images=1, summary={}, findings=[_finding("odd", 1)])
    assert store.data_report("s") == report  # the failed save changed nothing


def test_decisions_on_images_are_kept_replaced_and_cleared(store: TrialStore) -> None:
    store.set_data_override("s", "b/2.png", "exclude", author="ana")
    store.set_data_override("s", "a/1.png", "relabel", "cat", author="ana")
    store.set_data_override("s", "b/2.png", "keep", author="bo")
    rows = store.data_overrides("s")
    assert [(r.path, r.action, r.label, r.author) for r in rows] == [
        ("a/1.png", "relabel", "cat", "ana"),
        ("b/2.png", "keep", None, "bo"),
    ]
    store.clear_data_override("s", "a/1.png")
    assert [r.path for r in store.data_overrides("s")] == ["b/2.png"]
    with pytest.raises(StorageError, match="relabel needs a label"):
        store.set_data_override("s", "a/1.png", "relabel")
    with pytest.raises(StorageError, match="unknown override action"):
        store.set_data_override("s", "a/1.png", "delete")


def test_a_trials_test_answers_are_kept_with_its_evaluation_and_read_by_cell(
    store: TrialStore,
) -> None:
    from storage import TestPrediction, TrialState

    trial = store.start_trial("s", 0)
    store.finish_trial(trial.id, TrialState.COMPLETE, value=0.5)
    answers = [
        TestPrediction(0, "test/0", 1, 1, 0.9),
        TestPrediction(1, "test/1", 1, 0, 0.8),
        TestPrediction(2, "test/2", 1, 0, 0.95),
        TestPrediction(3, "test/3", 0, 0, 0.7),
    ]
    with pytest.raises(StorageError, match="no test evaluation yet"):
        store.save_test_predictions("s", 0, answers)
    store.save_evaluation(
        "s", 0, accuracy=0.5, macro_f1=0.5, class_names=["a", "b"], precision=[1, 1],
        recall=[1, 1], f1=[1, 1], support=[1, 3], confusion=[[1, 0], [2, 1]],
    )  # fmt: skip
    store.save_test_predictions("s", 0, answers, "/data/test.npy", 10)
    evaluation = store.evaluation("s", 0)
    assert (evaluation.images_file, evaluation.images_first_row) == ("/data/test.npy", 10)
    cell = store.test_predictions("s", 0, label=1, predicted=0)
    assert [p.row for p in cell] == [2, 1]  # most confident first
    assert [p.row for p in store.test_predictions("s", 0, label=1, wrong=True)] == [2, 1]
    assert [p.row for p in store.test_predictions("s", 0, limit=2)] == [2, 0]
    store.save_test_predictions("s", 0, answers[:1])  # replaced, not added to
    assert [p.row for p in store.test_predictions("s", 0)] == [0]
