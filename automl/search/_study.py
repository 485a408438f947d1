"""Create or resume a study and run its trials in recycled worker processes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import optuna
from optuna.trial import TrialState as OptunaState
from tqdm import tqdm

from automl._quiet import quiet_logs
from automl._workers import BUDGET_START_VARIABLE, machine_shared
from automl.backbones import SCRATCH
from automl.data import DataSplits, ImageFolderTask
from automl.search._artifact_store import open_artifact_store
from automl.search._budget import (
    EPOCH_CAP_ATTR,
    FINAL_DEADLINE_ATTR,
    FINAL_SHARE,
    PHASE_ATTR,
    BudgetPlan,
    default_final_share,
)
from automl.search._config import SearchConfig
from automl.search._optuna import (
    make_pruner,
    make_sampler,
    open_optuna_storage,
    reconcile,
)
from automl.search._preflight import (
    Log,
    check_models_folder,
    check_same_images,
    checked_images,
)
from automl.search._search_space import SEARCH_SPACE_VERSION, SMALL_DATA_IMAGES, portfolio
from automl.search._selection import choose_winner, first_known_good, quick_final_epochs
from automl.search._supervisor import Supervisor
from automl.search._warm_start import warm_start_params
from automl.search._worker import WorkerJob
from storage import TrialRecord, TrialStore


@dataclass(frozen=True)
class SearchResult:
    study_name: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    model_path: str | None
    data_summary: str | None
    seconds: float
    test_accuracy: float | None = None  # filled in by ``automl.run_search``, which scores it
    #: The splits the search checked before it began, to score its best model without
    #: reading them again (uint8 or memory-mapped: a few tens of MB for Fashion-MNIST).
    data: DataSplits | None = field(default=None, repr=False, compare=False)

    @property
    def test_loss(self) -> float | None:
        return self.best.test_loss if self.best else None


def _log(message: str) -> None:
    tqdm.write(message)  # prints above the progress bar instead of through it
    sys.stdout.flush()  # a log file or a pipe sees each line when it happens


def run_study(
    config: SearchConfig, *, log: Log | None = None, on_ready: Callable[[], None] | None = None
) -> SearchResult:
    """Every trial of the search; bad input raises AutoMLError (or StorageError) first.

    ``on_ready`` is called once the data is checked and the study exists (``--workers``
    starts the other workers then, so that they never meet bad data or a missing study)."""
    log = log or _log
    started = time.monotonic()
    # Bad input is one line within a second or two, not after TensorFlow (5-10 s to start)
    # and the data (minutes for a large folder): the storage, the data folder, the warm start
    # and the models' folder or bucket.
    TrialStore.check(config.storage_url)
    task = config.open_task(progress=not config.verbose)
    task.check_data_dir(config.data_dir)
    first = warm_start_params(config, task) if config.warm_start else []
    check_models_folder(config, open_artifact_store(config.artifacts))  # type: ignore[arg-type]
    config.check_weights()
    # This process only supervises: the workers train, each with TensorFlow of its own.
    quiet_logs(config.verbose, start_tensorflow=False)
    if isinstance(task, ImageFolderTask):
        config = checked_images(config, task, log)
    # Loaded here once, so that bad data is refused before anything is stored, and kept to
    # score the best model at the end (each worker process loads its own copy; 8-bit images
    # cost a quarter of float32, a folder's cache is only mapped).
    data = task.load(config.data_dir, config.validation_fraction, config.seed)
    data_summary, validation_images = data.describe(), len(data.y_val)
    training_images = len(data.y_train)
    log(f"data: {data_summary}")
    if config.timeout_s and config.final_share is None:
        small = training_images < SMALL_DATA_IMAGES
        share = default_final_share(small, config.timeout_s)
        config = replace(config, final_share=share)
        why = " (small data: a full-data epoch is cheap)" if share != FINAL_SHARE else ""
        log(f"budget: {config.timeout_s:.0f} s, {share:.0%} of it for the final run{why}")
    store = TrialStore(config.storage_url)
    try:
        record = store.ensure_study(config.name, task.name, SEARCH_SPACE_VERSION, config.to_json())
        check_same_images(record.config, config)
        study = _load_study(config, store, first, log, task.input_shape, training_images)
        reconcile(store, study)
        if on_ready is not None:
            on_ready()
        _optimize(config, store, study, log, validation_images, training_images)
        return replace(_finish(config, store, started, data_summary), data=data)
    finally:
        store.close()


def _load_study(
    config: SearchConfig,
    store: TrialStore,
    first: list[dict],
    log: Log,
    input_shape: tuple[int, int, int],
    training_images: int,
) -> optuna.Study:
    """Create or load the study; a new one screens ``first`` (a warm start) and the portfolio
    before the sampler's own candidates."""
    study = optuna.create_study(
        study_name=config.name,
        storage=open_optuna_storage(store),
        sampler=make_sampler(config),
        pruner=make_pruner(config),
        direction="maximize",
        load_if_exists=True,
    )
    study.set_user_attr("task", config.task)
    study.set_user_attr("search_space_version", SEARCH_SPACE_VERSION)
    if not study.get_trials(deepcopy=False):
        if config.warm_start:
            log(f"warm start: the {len(first)} best configurations of {config.warm_start!r} first")
        if len(config.backbones) > 1:  # a configuration from before backbones: a CNN's
            first = [{"backbone": SCRATCH, **params} for params in first]
        if config.enqueue_default:
            first = first + portfolio(input_shape, training_images, config.backbones)
        for params in first:  # skip_if_exists: two workers starting together enqueue them once
            study.enqueue_trial(params, skip_if_exists=True)
    return study


def _finished_candidates(study: optuna.Study) -> int:
    """Finished trials that count towards ``--trials``: all but final-phase runs."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and t.user_attrs.get(PHASE_ATTR) != "final"
    )


def _optimize(
    config: SearchConfig,
    store: TrialStore,
    study: optuna.Study,
    log: Log,
    validation_images: int,
    training_images: int,
) -> None:
    """Start workers one after another until the trial count or the time budget is reached."""
    # --workers' helpers share the first worker's clock: one screening deadline for all, so
    # that no worker still screening picks up another's final-phase trial from the queue.
    start = float(os.environ.get(BUDGET_START_VARIABLE) or time.time())
    plan = (
        BudgetPlan.from_timeout(start, config.timeout_s, final_share=config.final_share)
        if config.timeout_s
        else None
    )
    done, limit = _finished_candidates(study), config.trial_limit
    if limit is not None and done >= limit and plan is None:
        log(f"study {config.name!r} already has {done} finished trials (asked for {limit})")
        return
    if limit is not None and done >= limit:
        log(f"study {config.name!r} already screened {done} candidates: on to the final phase")
    elif done:
        to_go = f", {limit - done} to go" if limit is not None else ""
        log(f"resuming study {config.name!r}: {done} trials done{to_go}")
    supervisor = Supervisor(config, store, log, plan, initial=done)
    screening_deadline = plan.screening_deadline if plan else None
    try:
        while True:
            remaining = (
                config.trials_per_worker if limit is None else limit - _finished_candidates(study)
            )
            if remaining <= 0 or (screening_deadline and time.time() >= screening_deadline):
                break
            # Seeded by the trial count: a resumed run never replays an earlier run's draws.
            index = len(study.get_trials(deepcopy=False))
            batch = min(remaining, config.trials_per_worker)
            job = WorkerJob(batch, screening_deadline, index, plan)
            # A final phase follows screening; a trial-count search may need another batch.
            # The next worker gets ready meanwhile; with --workers, not: the other workers
            # keep the cores busy.
            more = plan is not None or (limit is not None and remaining > batch)
            if supervisor.run(job, more_to_come=more and not machine_shared()) == 0:
                break  # a worker that ran nothing (time up, or another machine took them)
        if plan is not None:
            _final_phase(config, study, supervisor, plan, log, validation_images, training_images)
    finally:
        supervisor.close()


def _final_phase(
    config: SearchConfig,
    study: optuna.Study,
    supervisor: Supervisor,
    plan: BudgetPlan,
    log: Log,
    validation_images: int,
    training_images: int,
) -> None:
    """Train the screening's winner on all the data with the time that is left.

    A search that screened all its ``--trials`` before its screening share ran out is a quick
    one (the digits demo): its final run stops at ``--epochs``, or at the epochs its winner
    trained in screening if those were more. Otherwise the final run has
    the rest of the budget, however many epochs that is (on small data, many).
    """
    trials = study.get_trials(deepcopy=False)
    # Another worker's final (queued, running or done) already trains its winner: this one
    # trains the next best, so that N workers train the N best configurations in full. A
    # failed final (an interrupted run) is trained again.
    claimed = {
        t.user_attrs.get("screened_as")
        for t in trials
        if t.user_attrs.get(PHASE_ATTR) == "final"
        and t.state in (OptunaState.WAITING, OptunaState.RUNNING, OptunaState.COMPLETE)
    }
    candidates = [t for t in trials if t.number not in claimed]
    selection = choose_winner(candidates, validation_images, training_images)
    winner = selection.winner
    # A budget too short to finish one rung still ends with a model: the known-good
    # configuration screened first, trained unscreened for the time that is left.
    fallback = winner is None
    if fallback:
        winner = first_known_good(candidates)
    if winner is None:
        log("no candidate finished a screening rung: there is nothing to train in a final phase")
        return
    left = plan.deadline - time.time()
    if left <= 0:
        log(f"final phase: no time left to train trial {winner.number}'s configuration")
        return
    limit = config.trial_limit
    quick = (
        limit is not None
        and time.time() < plan.screening_deadline
        and _finished_candidates(study) >= limit
    )
    epochs = quick_final_epochs(config.epochs, winner)
    cap = {EPOCH_CAP_ATTR: epochs} if quick else {}
    study.enqueue_trial(
        # A trial that never started has only the parameters it was queued with.
        winner.params or winner.system_attrs["fixed_params"],
        user_attrs={
            PHASE_ATTR: "final",
            "screened_as": winner.number,
            FINAL_DEADLINE_ATTR: plan.deadline,
            **cap,
        },
    )
    limit = f", at most {epochs} epochs" if quick else ""
    if fallback:
        kept = " (no candidate finished a screening rung: the first known-good one, unscreened)"
    else:
        kept = f" ({selection.note})" if selection.note else ""
    log(
        f"final phase: trial {winner.number}'s configuration on all the data, "
        f"{left:.0f} s left{limit}{kept}"
    )
    supervisor.progress.phase = "final"
    trials = study.get_trials(deepcopy=False)
    # Optuna's queue is first in, first out: candidates still queued for screening (the
    # portfolio's, a retry) come out first and are closed at once; then the final runs.
    ahead = sum(
        1
        for t in trials
        if t.state == OptunaState.WAITING and t.user_attrs.get(PHASE_ATTR) != "final"
    )
    supervisor.run(WorkerJob(1 + ahead, plan.deadline, len(trials), plan, final=True))


def _finish(
    config: SearchConfig, store: TrialStore, started: float, data_summary: str | None
) -> SearchResult:
    best = store.best_trial(config.name, with_artifact=True)
    artifact = store.artifact(config.name, best.number) if best is not None else None
    return SearchResult(
        study_name=config.name,
        trials=store.trials(config.name),
        best=best,
        model_path=artifact.location if artifact is not None else None,
        data_summary=data_summary,
        seconds=time.monotonic() - started,
    )


__all__ = ["SearchResult", "run_study"]
