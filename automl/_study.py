"""Create or resume a study, run its trials in recycled workers, score the best model once."""

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
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from automl._config import SearchConfig
from automl._errors import AutoMLError
from automl._evaluate import evaluate_trial
from automl._quiet import quiet_logs
from automl._search_space import SEARCH_SPACE_VERSION, strong_default
from automl._worker import WorkerJob, worker_main
from automl.tasks import get_task
from storage import TrialRecord, TrialState, TrialStore, engine_kwargs

MAX_CONSECUTIVE_FAILURES = 5
_FINISHED = {
    OptunaState.COMPLETE: TrialState.COMPLETE,
    OptunaState.PRUNED: TrialState.PRUNED,
    OptunaState.FAIL: TrialState.FAIL,
}
Log = Callable[[str], None]


@dataclass(frozen=True)
class SearchResult:
    study_name: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    test_accuracy: float | None
    test_loss: float | None
    model_path: str | None
    data_summary: str | None
    seconds: float


def make_sampler(config: SearchConfig, worker_index: int = 0) -> optuna.samplers.BaseSampler:
    # Each worker gets its own seed: a recycled worker must not replay its predecessor's draws.
    seed = config.seed + 1000 * worker_index
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            group=True,  # the space is conditional (filters_i exist only for i < n_blocks)
            n_startup_trials=5,
            constant_liar=True,  # several workers on one study do not sample the same point
        )
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if config.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    try:
        import torch  # noqa: F401  (GPSampler needs it; fail before any trial runs)
    except ImportError:
        raise AutoMLError("the gp sampler needs PyTorch: pip install torch") from None
    return optuna.samplers.GPSampler(seed=seed)


def make_pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=config.epochs, reduction_factor=3
        )
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if config.pruner == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_optuna_storage(url: str) -> optuna.storages.RDBStorage:
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs(url),
            heartbeat_interval=60,
            grace_period=180,  # a worker silent this long died: its trial is failed
        )
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise AutoMLError(f"cannot open the Optuna storage: {exc}") from None


class StopAfterFailures:
    """A bug or a broken environment fails every trial: stop instead of burning the budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tripped = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        recent = finished[-self.limit :]
        if len(recent) == self.limit and all(t.state == OptunaState.FAIL for t in recent):
            self.tripped = True
            study.stop()


def study_callbacks(
    config: SearchConfig,
    guard: StopAfterFailures,
    store: TrialStore,
    on_failure: Callable[[int, str | None], None],
) -> list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]]:
    def report_failure(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == OptunaState.FAIL:
            on_failure(trial.number, store.trial(config.name, trial.number).reason)

    return [
        # Counts every worker's trials, also those of other machines on a shared database.
        optuna.study.MaxTrialsCallback(config.trials, states=tuple(_FINISHED)),
        guard,
        report_failure,
    ]


def _log(message: str) -> None:
    tqdm.write(message)  # prints above the progress bar instead of through it


def run_search(config: SearchConfig, *, log: Log = _log) -> SearchResult:
    """The whole search; bad input raises AutoMLError (or StorageError) before any trial runs."""
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
        t.number: _FINISHED[t.state]
        for t in study.get_trials(deepcopy=False)
        if t.state in _FINISHED
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
    """Score the best saved model once on the test split: a full evaluation, stored."""
    best = store.best_trial(config.name, with_artifact=True)
    evaluation = model_path = None
    if best is not None:
        evaluation = evaluate_trial(store, config.name, best.number, config.data_dir)
        model_path = store.artifact(config.name, best.number).path  # type: ignore[union-attr]
        best = store.trial(config.name, best.number)
    return SearchResult(
        study_name=config.name,
        trials=store.trials(config.name),
        best=best,
        test_accuracy=evaluation.accuracy if evaluation else None,
        test_loss=best.test_loss if best else None,
        model_path=model_path,
        data_summary=data_summary,
        seconds=time.monotonic() - started,
    )


__all__ = ["SearchResult", "run_search"]
