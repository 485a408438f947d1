"""Workers taking queued trials from one SQLite study at once: each trial is taken once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import optuna

from automl.search._optuna import retries_first
from storage import TrialStore

TRIALS = 30


def _take_all(url: str, out: multiprocessing.Queue, start: multiprocessing.Event) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = TrialStore(url)
    study = retries_first(optuna.load_study(study_name="queue", storage=url), store.queue_lock)
    start.wait(30)
    taken = []
    while (trial_id := study._pop_waiting_trial_id()) is not None:
        taken.append(trial_id)
    out.put(taken)


def test_two_workers_never_take_the_same_queued_trial(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    TrialStore(url)  # the project's tables and its lock file's folder
    study = optuna.create_study(study_name="queue", storage=url)
    for x in range(TRIALS):
        study.enqueue_trial({"x": x}, skip_if_exists=False)
    context = multiprocessing.get_context("spawn")
    out, start = context.Queue(), context.Event()
    workers = [context.Process(target=_take_all, args=(url, out, start)) for _ in range(3)]
    for worker in workers:
        worker.start()
    start.set()
    taken = [trial_id for _ in workers for trial_id in out.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(taken) == sorted(set(taken)) and len(taken) == TRIALS
