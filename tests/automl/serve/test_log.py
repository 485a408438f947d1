"""The prediction log never blocks a prediction: a failing database holds, then drops."""

from __future__ import annotations

from datetime import datetime, timezone

from automl.serve._log import PredictionLog
from storage import PredictionRecord, TrialStore


def _records(n: int, start: int = 0) -> list[PredictionRecord]:
    now = datetime.now(timezone.utc)
    return [
        PredictionRecord("m", "ab" * 32, f"r{i}", "/predict", 200, 1.0, now, "cat", 0.9)
        for i in range(start, start + n)
    ]


def test_a_failing_database_holds_entries_then_drops_the_oldest(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    down = True
    dropped: list[int] = []

    def write(batch) -> None:
        if down:
            raise ConnectionError("database unreachable")
        store.record_predictions(batch)

    log = PredictionLog(write, on_drop=dropped.append, max_pending=100)
    try:
        log.add(_records(80))
        assert not log.flush() and log.pending == 80  # kept while the database is away
        log.add(_records(40, start=80))  # past the bound: the 20 oldest go
        assert sum(dropped) == 20 and log.pending == 100
        down = False
        assert log.flush() and log.pending == 0
    finally:
        log.close()
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    ids = [r.request_id for r in store.predictions("m", since)]
    assert ids == [f"r{i}" for i in range(20, 120)]
    assert store.served_models() == ["m"]
