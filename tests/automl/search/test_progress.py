"""What a user sees while a search runs: the bar on a terminal, one line per event elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from automl.search import SearchConfig, _progress
from automl.search._budget import BudgetPlan
from automl.search._progress import SearchProgress
from storage import TrialState, TrialStore

NOW = 1_000_000.0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def store(tmp_path: Path) -> TrialStore:
    """Two screened trials (0.8 and 0.9), one closed unscreened, a final at epoch 2."""
    store = TrialStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.ensure_study("s", "digits", 1, {})
    for number, value in enumerate([0.8, 0.9, None]):
        record = store.start_trial("s", number, phase="screening")
        if value is not None:
            store.record_epoch(record.id, 1, seconds=1.0, val_accuracy=value, data_fraction=0.25)
            store.finish_trial(record.id, TrialState.COMPLETE, value=value, best_epoch=1)
    store.finish_trial(store.trial("s", 2).id, TrialState.PRUNED)  # closed unscreened
    final = store.start_trial("s", 3, phase="final")
    store.record_epoch(final.id, 1, seconds=1.0, val_accuracy=0.5, data_fraction=1.0)
    store.record_epoch(final.id, 2, seconds=1.0, val_accuracy=0.7, data_fraction=1.0)
    return store


def _progress_for(store: TrialStore, lines: list[str], monkeypatch, stderr: io.StringIO):
    monkeypatch.setattr(_progress.sys, "stderr", stderr)  # where tqdm draws, and isatty()
    monkeypatch.setattr(_progress.time, "time", lambda: NOW)
    monkeypatch.delenv("AUTOML_PROGRESS_BAR", raising=False)
    plan = BudgetPlan.from_timeout(NOW - 100.0, 600.0)
    config = SearchConfig(task="digits", study_name="s", storage_url=store.url)
    progress = SearchProgress(config, store, plan, 0, lines.append)
    progress.phase = "final"
    return progress


def test_on_a_terminal_the_bar_reads_phase_counts_best_and_the_running_trial(
    store: TrialStore, monkeypatch
) -> None:
    lines: list[str] = []
    progress = _progress_for(store, lines, monkeypatch, _Terminal())
    progress.update()
    assert progress.bar.desc == "final" and progress.bar.n == 100
    assert progress.bar.postfix.split("; ") == [
        "500 s left",
        "2 screened",
        "trial 3 epoch 2 on all of the data, val acc 0.7000",
        "best val acc 0.9000 (trial 1)",
    ]
    assert lines == []  # the bar, not log lines
    progress.close()


def test_without_a_terminal_a_line_is_printed_only_when_something_happens(
    store: TrialStore, monkeypatch
) -> None:
    lines: list[str] = []
    stderr = io.StringIO()
    progress = _progress_for(store, lines, monkeypatch, stderr)
    for _ in range(5):  # five polls, a second apart in a real search: nothing new after one
        progress.update()
    assert lines == [
        "progress: final; 500 s left; 2 screened; trial 3 epoch 2 on all of the data, "
        "val acc 0.7000; best val acc 0.9000 (trial 1)"
    ]
    final = store.trial("s", 3)
    store.finish_trial(final.id, TrialState.COMPLETE, value=0.95, best_epoch=2)
    progress.update()
    progress.update()
    assert len(lines) == 2 and lines[1].endswith("best val acc 0.9500 (trial 3)")
    progress.close()  # a last update: nothing changed, nothing printed
    assert len(lines) == 2
    assert stderr.getvalue() == ""  # no bar drawn into a log
