"""Create or resume a study and run its trials in recycled worker processes."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState as OptunaState
from tqdm import tqdm

from automl._errors import AutoMLError
from automl._quiet import quiet_logs
from automl.data import get_task
from automl.search._config import SearchConfig
from automl.search._optuna import (
    FINISHED_STATES,
    make_pruner,
    make_sampler,
    open_optuna_storage,
)
from automl.search._search_space import SEARCH_SPACE_VERSION, strong_default
from automl.search._worker import WorkerJob, worker_main
from storage import TrialRecord, TrialState, TrialStore

Log = Callable[[str], None]


@dataclass(frozen=True)
class SearchResult:
    study_name: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    model_path: str | None
    data_summary: str | None
    seconds: float
    test_accuracy: float | None = None  # filled in by ``automl.run_search``, which scores it

    @property
    def test_loss(self) -> float | None:
        return self.best.test_loss if self.best else None


def _log(message: str) -> None:
    tqdm.write(message)  # prints above the progress bar instead of through it


def run_study(config: SearchConfig, *, log: Log | None = None) -> SearchResult:
    """Every trial of the search; bad input raises AutoMLError (or StorageError) first."""
    log = log or _log
    started = time.monotonic()
    quiet_logs(config.verbose)
    task = get_task(config.task)
    task.check_data_dir(config.data_dir)
    store = TrialStore(config.storage_url)
    try:
        store.ensure_study(config.name, task.name, SEARCH_SPACE_VERSION, config.to_json())
        study = _load_study(config)
        _reconcile(store, study, config.name)
        data_summary = _optimize(config, store, study, log)
        return _finish(config, store, started, data_summary)
    finally:
        store.close()


def _load_study(config: SearchConfig) -> optuna.Study:
    study = optuna.create_study(
        study_name=config.name,
        storage=open_optuna_storage(config.storage_url),
        sampler=make_sampler(config),
        pruner=make_pruner(config),
        direction="maximize",
        load_if_exists=True,
    )
    study.set_user_attr("task", config.task)
    study.set_user_attr("search_space_version", SEARCH_SPACE_VERSION)
    if config.enqueue_default and not study.get_trials(deepcopy=False):
        # skip_if_exists: two workers starting together enqueue it once.
        study.enqueue_trial(strong_default(get_task(config.task).input_shape), skip_if_exists=True)
    return study


def _reconcile(store: TrialStore, study: optuna.Study, name: str) -> None:
    """Trials a killed worker left RUNNING: close ours as Optuna closed its own."""
    finished = {
        t.number: FINISHED_STATES[t.state]
        for t in study.get_trials(deepcopy=False)
        if t.state in FINISHED_STATES
    }
    store.mark_interrupted(name, finished)


def _finished_count(study: optuna.Study) -> int:
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())


def _optimize(config: SearchConfig, store: TrialStore, study: optuna.Study, log: Log) -> str | None:
    """Start workers one after another until the trial count or the time budget is reached."""
    done = _finished_count(study)
    if done >= config.trials:
        log(f"study {config.name!r} already has {done} finished trials (asked for {config.trials})")
        return None
    if done:
        log(f"resuming study {config.name!r}: {done} trials done, {config.trials - done} to go")
    deadline = time.time() + config.timeout_s if config.timeout_s else None
    bar = tqdm(
        total=config.trials,
        initial=done,
        unit="trial",
        disable=config.verbose,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}{postfix}]",
    )
    supervisor = _Supervisor(config, store, bar, log)
    try:
        while True:
            remaining = config.trials - _finished_count(study)
            if remaining <= 0 or (deadline is not None and time.time() >= deadline):
                break
            # Seeded by the trial count: a resumed run never replays an earlier run's draws.
            index = len(study.get_trials(deepcopy=False))
            job = WorkerJob(config, min(remaining, config.trials_per_worker), deadline, index)
            if supervisor.run(job) == 0:
                break  # a worker that ran nothing (time up, or another machine took them)
    finally:
        supervisor.update_bar()
        bar.close()
    return supervisor.data_summary


class _Supervisor:
    """Runs one worker process, relays its messages, and cleans up after a crash."""

    POLL_S = 1.0

    def __init__(self, config: SearchConfig, store: TrialStore, bar: tqdm, log: Log) -> None:
        self.config, self.store, self.bar, self.log = config, store, bar, log
        self.data_summary: str | None = None
        self._postfix = ""
        self._context = multiprocessing.get_context("spawn")  # never fork a TensorFlow process

    def run(self, job: WorkerJob) -> int:
        messages = self._context.Queue()
        process = self._context.Process(target=worker_main, args=(job, messages), daemon=True)
        process.start()
        current: int | None = None
        outcome: tuple[str, object] | None = None
        try:
            while outcome is None:
                try:
                    kind, payload = messages.get(timeout=self.POLL_S)
                except queue.Empty:
                    self.update_bar()
                    if not process.is_alive():
                        break
                    continue
                if kind == "data":
                    if self.data_summary is None:
                        self.log(f"data: {payload}")
                    self.data_summary = str(payload)
                elif kind == "trial":
                    current = int(payload)  # type: ignore[arg-type]
                elif kind == "failed":
                    number, reason = payload  # type: ignore[misc]
                    self.log(f"trial {number} failed: {reason}")
                else:
                    outcome = (kind, payload)
            process.join()
        except KeyboardInterrupt:
            self._stop(process)
            raise
        if outcome is None or outcome[0] == "crashed":
            detail = outcome[1] if outcome else f"exit code {process.exitcode}"
            self._close_orphan(current, f"worker process died ({detail})")
            if outcome is not None:
                raise AutoMLError(f"a worker crashed: {detail}")
            return 1  # e.g. killed for memory: that trial failed, the study goes on
        if outcome[0] == "error":
            raise AutoMLError(str(outcome[1]))
        if outcome[0] == "interrupted":
            raise KeyboardInterrupt
        return int(outcome[1])  # type: ignore[arg-type]

    def _stop(self, process: multiprocessing.Process) -> None:
        """Ctrl-C: the worker closes its trial; make sure it got the signal, then wait."""
        process.join(timeout=2)
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGINT)
            process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join()

    def _close_orphan(self, number: int | None, reason: str) -> None:
        if number is None:
            return
        storage = open_optuna_storage(self.config.storage_url)
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(self.config.name), number
        )
        if not storage.get_trial(trial_id).state.is_finished():
            storage.set_trial_state_values(trial_id, OptunaState.FAIL)
        record = self.store.trial(self.config.name, number)
        if record.state is TrialState.RUNNING:
            self.store.finish_trial(record.id, TrialState.FAIL, reason=reason)
        self.log(f"trial {number} failed: {reason}")

    def update_bar(self) -> None:
        """Poll the store: counts every worker's trials, other machines' included."""
        trials = self.store.trials(self.config.name)
        finished = sum(1 for t in trials if t.state.is_finished)
        best = max(
            (t for t in trials if t.state is TrialState.COMPLETE and t.value is not None),
            key=lambda t: t.value,  # type: ignore[arg-type,return-value]
            default=None,
        )
        postfix = f"best val acc {best.value:.4f} (trial {best.number})" if best else ""
        changed = (min(finished, self.bar.total), postfix) != (self.bar.n, self._postfix)
        self.bar.n, self._postfix = min(finished, self.bar.total), postfix
        if changed:
            self.bar.set_postfix_str(postfix, refresh=False)
        if changed or sys.stderr.isatty():  # keep logs free of identical redraws
            self.bar.refresh()


def _finish(
    config: SearchConfig, store: TrialStore, started: float, data_summary: str | None
) -> SearchResult:
    best = store.best_trial(config.name, with_artifact=True)
    artifact = store.artifact(config.name, best.number) if best is not None else None
    return SearchResult(
        study_name=config.name,
        trials=store.trials(config.name),
        best=best,
        model_path=artifact.path if artifact is not None else None,
        data_summary=data_summary,
        seconds=time.monotonic() - started,
    )


__all__ = ["SearchResult", "run_study"]
