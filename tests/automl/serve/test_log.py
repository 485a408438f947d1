"""The prediction log never blocks a prediction: a failing database holds, then drops."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import astuple
from datetime import datetime, timezone
from pathlib import Path

import pytest

from automl.serve._log import LogWriterProcess, PredictionLog
from storage import PREDICTION_FIELDS, PredictionRecord, TrialStore


def _records(n: int, start: int = 0) -> list[tuple]:
    """Log rows, as the server hands them over: tuples of PREDICTION_FIELDS."""
    now = datetime.now(timezone.utc)
    return [
        astuple(PredictionRecord("m", "ab" * 32, f"r{i}", "/predict", 200, 1.0, now, "cat", 0.9))
        for i in range(start, start + n)
    ]


def test_a_failing_database_holds_entries_then_drops_the_oldest(sqlite_url: str) -> None:
    store = TrialStore(sqlite_url)
    down = True
    dropped: list[int] = []

    def write(batch) -> None:
        if down:
            raise ConnectionError("database unreachable")
        store.record_prediction_rows(batch)

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


def test_a_flush_during_the_writers_flush_writes_each_entry_once() -> None:
    """The background writer and an explicit flush (as at shutdown) must not both take the
    same batch: CI once logged 450 answers for 300 predictions."""
    written: list[str] = []
    writing, release = threading.Event(), threading.Event()

    def write(batch) -> None:
        writing.set()
        release.wait(5)  # a slow database, held until the second flush has started
        written.extend(row[PREDICTION_FIELDS.index("request_id")] for row in batch)

    log = PredictionLog(write)
    try:
        log.add(_records(150))
        assert writing.wait(5)  # the writer thread is inside its flush
        second = threading.Thread(target=log.flush)
        second.start()
        second.join(0.5)
        release.set()
        second.join(5)
        assert log.flush() and log.pending == 0
    finally:
        log.close()
    assert sorted(written) == sorted(f"r{i}" for i in range(150))


def test_entries_past_their_retention_are_deleted_by_the_writer_and_by_the_command(
    sqlite_url: str, capsys
) -> None:
    from datetime import timedelta

    from automl.cli import main

    store = TrialStore(sqlite_url)
    now = datetime.now(timezone.utc)
    entries = [
        PredictionRecord("m", "ab" * 32, f"r{days}", "/predict", 200, 1.0,
                         now - timedelta(days=days), "cat", 0.9)
        for days in (0, 3, 10, 40, 90)
    ]  # fmt: skip
    store.record_predictions(entries)
    forever = LogWriterProcess(sqlite_url, 0)
    assert forever.prune is None  # 0 days: kept for ever
    forever.close()
    pruned: list[int] = []
    writer = LogWriterProcess(sqlite_url, 30)
    prune = writer.prune
    assert prune is not None

    def prune_and_tell() -> int:
        pruned.append(prune())
        return pruned[-1]

    log = PredictionLog(writer.write, prune=prune_and_tell)
    try:
        deadline = time.monotonic() + 60  # at the writer's start (the process's), then hourly
        while not pruned and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        log.close()
        writer.close()
    assert pruned == [2]
    left = [r.request_id for r in store.predictions("m", now - timedelta(days=365))]
    assert left == ["r10", "r3", "r0"]
    assert main(["prune-log", "--older-than", "7", "--storage", sqlite_url]) == 0
    assert "deleted 1 prediction-log entries from before" in capsys.readouterr().out
    assert [r.request_id for r in store.predictions("m", now - timedelta(days=365))] == [
        "r3",
        "r0",
    ]


def test_the_writer_process_writes_and_comes_back_after_it_is_killed(sqlite_url: str) -> None:
    writer = LogWriterProcess(sqlite_url)
    try:
        writer.write(_records(3))
        killed = writer.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)  # as the OOM killer would
        stat = Path(f"/proc/{killed}/stat")
        deadline = time.monotonic() + 10
        while stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the killed writer did not end"
            time.sleep(0.01)
        writer.write(_records(2, start=3))  # a new process
        assert writer.pid != killed
    finally:
        writer.close()
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    ids = [r.request_id for r in TrialStore(sqlite_url).predictions("m", since)]
    assert ids == [f"r{i}" for i in range(5)]


def test_a_database_the_writer_cannot_open_fails_the_write_until_it_can(tmp_path: Path) -> None:
    """The database's words come back, the process stays, and the log keeps the entries."""
    folder = tmp_path / "not-yet"
    url = f"sqlite:///{folder}/store.db"
    writer = LogWriterProcess(url)
    log = PredictionLog(writer.write)
    try:
        log.add(_records(4))
        with pytest.raises(RuntimeError, match="not-yet"):
            writer.write(_records(1))
        assert not log.flush() and log.pending == 4
        folder.mkdir()
        assert log.flush() and log.pending == 0
    finally:
        log.close()
        writer.close()
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert len(TrialStore(url).predictions("m", since)) == 4


def test_a_closed_writer_waits_for_what_it_was_sent_then_ends(sqlite_url: str) -> None:
    writer = LogWriterProcess(sqlite_url)
    pid = writer.pid
    writer.write(_records(2))
    writer.close()
    assert pid is not None and not Path(f"/proc/{pid}").exists()  # ended, and reaped
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(_records(1))
