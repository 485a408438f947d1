"""Optuna's pieces as this search uses them, shared by the supervisor and its workers."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager

import optuna
from optuna.trial import TrialState as OptunaState
from sqlalchemy.exc import SQLAlchemyError

from automl._errors import AutoMLError
from automl.search._budget import REDUCTION_FACTOR, SCREENING_RUNGS
from automl.search._config import SearchConfig
from storage import TrialState, TrialStore, engine_kwargs, lost_connection_reason

MAX_CONSECUTIVE_FAILURES = 5
#: Each running trial's worker writes a heartbeat this often; a trial silent for the grace
#: period is taken for dead (its machine lost, the process killed) and failed by the next
#: worker. Both can be set in the environment, as AUTOML_HEARTBEAT_S / _GRACE_S.
HEARTBEAT_S = 60
GRACE_S = 180


def _seconds(variable: str, default: int) -> int:
    value = os.environ.get(variable) or str(default)
    if not value.isdigit() or int(value) < 1:
        raise AutoMLError(f"{variable} must be a whole number of seconds, got {value!r}")
    return int(value)


#: A trial whose worker died is tried once more, with the same parameters, as a new trial.
MAX_RETRY = 1
FINISHED_STATES = {
    OptunaState.COMPLETE: TrialState.COMPLETE,
    OptunaState.PRUNED: TrialState.PRUNED,
    OptunaState.FAIL: TrialState.FAIL,
}


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
    """Over epochs (steps 1, 2, ...) in a trial-count search; over the screening rungs (steps
    1, 3, 9: the rung's resource level) in a timed one."""
    name = config.pruner_name
    max_resource = SCREENING_RUNGS[-1].step if config.budgeted else config.epochs
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_resource, reduction_factor=REDUCTION_FACTOR
        )
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=3, n_warmup_steps=0 if config.budgeted else 1
        )
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=REDUCTION_FACTOR
        )
    return optuna.pruners.NopPruner()


class _RDBStorage(optuna.storages.RDBStorage):
    """Optuna's storage, with a heartbeat that outlives a lost connection (Optuna beats in a
    thread that any error ends, with a traceback: after a database restart a live trial would
    go stale, and another machine would fail it and run it again)."""

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as exc:
            if lost_connection_reason(exc) is None:
                raise
            # This beat is missed; the grace period spans several.


def open_optuna_storage(store: TrialStore) -> optuna.storages.RDBStorage:
    """Optuna's storage in the store's database; its tables are created under the store's
    schema lock, so that workers starting together on an empty database do not collide."""
    url = store.url
    heartbeat = _seconds("AUTOML_HEARTBEAT_S", HEARTBEAT_S)
    grace = _seconds("AUTOML_HEARTBEAT_GRACE_S", GRACE_S)

    def fail_dead_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Optuna failed a trial whose heartbeat stopped (another machine's, or one lost)."""
        close_dead_trial(
            store,
            study,
            trial,
            f"its worker sent no heartbeat for {grace} s (process killed or machine lost)",
        )

    try:
        with store.schema_lock(), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats
            return _RDBStorage(
                url,
                engine_kwargs=engine_kwargs(url),
                heartbeat_interval=heartbeat,
                grace_period=grace,
                heartbeat_stale_trial_callback=fail_dead_trial,
            )
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise AutoMLError(f"cannot open the Optuna storage: {exc}") from None


def close_dead_trial(
    store: TrialStore, study: optuna.Study, trial: optuna.trial.FrozenTrial, reason: str
) -> bool:
    """The one place a trial whose worker is gone is closed in both records: Optuna has
    failed ``trial``; its configuration is queued once more (once) and our row, if still
    running, is closed as failed with ``reason``. Returns whether it was queued again.
    Optuna's heartbeat check calls it for a lost machine, the supervisor for a local worker
    that died; ``reconcile`` closes what a killed search left."""
    queued = len(study.get_trials(deepcopy=False))
    retry_dead_trial(study, trial)
    retried = len(study.get_trials(deepcopy=False)) > queued
    close_running_row(store, study.study_name, trial.number, reason)
    return retried


def close_running_row(store: TrialStore, study_name: str, number: int, reason: str) -> None:
    """Our row of a trial whose worker is gone, failed with ``reason`` if still running."""
    record = store.trial(study_name, number)
    if record.state is TrialState.RUNNING:
        store.finish_trial(record.id, TrialState.FAIL, reason=reason)


def retry_dead_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna's RetryHeartbeatStaleTrialCallback: the dead trial's parameters go back in the
    queue, once. Optuna calls it for a trial it fails for a stale heartbeat (a lost machine),
    the supervisor for a trial whose local worker died."""
    with warnings.catch_warnings():  # "experimental" since Optuna 2.8: not news to users
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
    callback(study, trial)


def retries_first(
    study: optuna.Study, one_at_a_time: Callable[[], AbstractContextManager]
) -> optuna.Study:
    """``study``, taking from its queue a configuration queued again after its worker died
    before anything queued earlier (the portfolio, a warm start): Optuna takes the lowest
    trial number, which would leave the retry behind them all. ``one_at_a_time``: a lock
    across processes (``TrialStore.queue_lock``); on SQLite two workers otherwise both took
    the same queued final and the second's end failed ("Cannot tell a COMPLETE trial")."""

    def pop_waiting_trial_id() -> int | None:
        with one_at_a_time():
            waiting = study._storage.get_all_trials(
                study._study_id, deepcopy=False, states=(optuna.trial.TrialState.WAITING,)
            )
            for trial in sorted(waiting, key=lambda t: "failed_trial" not in t.system_attrs):
                try:  # another worker may take it first, as in Optuna's own loop
                    if study._storage.set_trial_state_values(
                        trial._trial_id, state=optuna.trial.TrialState.RUNNING
                    ):
                        return trial._trial_id
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue
            return None

    study._pop_waiting_trial_id = pop_waiting_trial_id  # type: ignore[method-assign]
    return study


def reconcile(store: TrialStore, study: optuna.Study) -> int:
    """Trials a killed worker left RUNNING in our store: close them as Optuna closed its own;
    returns how many."""
    finished = {
        t.number: FINISHED_STATES[t.state]
        for t in study.get_trials(deepcopy=False)
        if t.state in FINISHED_STATES
    }
    return store.mark_interrupted(study.study_name, finished)


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
    *,
    count_trials: bool = True,
) -> list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]]:
    def report_failure(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == OptunaState.FAIL:
            on_failure(trial.number, store.trial(config.name, trial.number).reason)

    callbacks = [guard, report_failure]
    if count_trials and config.trial_limit is not None:
        # Counts every worker's trials, also those of other machines on a shared database.
        callbacks.insert(
            0, optuna.study.MaxTrialsCallback(config.trial_limit, states=tuple(FINISHED_STATES))
        )
    return callbacks
