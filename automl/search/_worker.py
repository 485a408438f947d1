"""Trials run in a worker process that is replaced every few trials.

TensorFlow keeps some memory of every model it ever built (5-20 MB a trial here, even after
``clear_session``: the keras-tuner#395 / optuna#1178 failure), so a long study in one process
grows without bound. A fresh worker every ``trials_per_worker`` trials keeps memory flat; it
reaches the study through the shared storage, exactly as a second machine would. The next
worker is started while the current one trains, so its start costs the budget little; it slows
the training one meanwhile, whose cost meter then decides nothing.
"""

from __future__ import annotations

import gc
import os
import queue
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING, Any

from automl._errors import AutoMLError, TrialFailure, stop_on_sigterm
from automl.search._artifact_store import open_artifact_store
from automl.search._budget import BudgetPlan
from automl.search._config import SearchConfig
from storage import StorageError, TrialStore, lost_connection_reason

if TYPE_CHECKING:
    from automl.data import DataSplits


@dataclass(frozen=True)
class WorkerJob:
    """What one worker does, sent once it is ready; the search's settings it got at its start."""

    n_trials: int
    deadline: float | None  # a time.time() instant: this worker starts no trial after it
    worker_index: int  # distinct per worker start: it seeds the sampler
    plan: BudgetPlan | None = None  # a timed search's budget (screening, then final)
    #: The final phase's job: candidates still queued for screening are closed unscreened, and
    #: ``--trials`` (already reached by a quick search) does not stop it before its final run.
    final: bool = False


def worker_main(
    config: SearchConfig, jobs: Queue, messages: Queue, spare_loading: Event, spare: bool
) -> None:
    """Entry point of the worker process: results go back as (kind, payload) messages.

    It gets ready (TensorFlow imported, the data loaded: 5-15 s on 2 cores) before its job
    arrives, so a worker started while the previous one trains takes over without that wait;
    ``None`` instead of a job sends it home unused. ``spare_loading`` is set while a spare
    (``spare``: this one) gets ready: the worker that trains meanwhile runs slower."""

    def send(kind: str, payload: Any = None) -> None:
        messages.put((kind, payload))

    stop_on_sigterm()  # systemd stops the whole process group: close the trial, as for Ctrl-C
    try:
        data = _prepare(config)
        if spare:
            spare_loading.clear()
        job = _wait_for_job(jobs)
        if job is not None:
            send("done", _run(config, job, data, send, spare_loading.is_set))
    except (AutoMLError, StorageError) as exc:
        send("error", str(exc))
    except KeyboardInterrupt:
        send("interrupted")
    except Exception as exc:
        lost = lost_connection_reason(exc)  # the database went away for longer than the retries
        if lost:
            send("disconnected", lost)
            return
        # A bug: show it, and let the supervisor report the crash in one line.
        traceback.print_exc()
        send("crashed", traceback.format_exc().strip().splitlines()[-1])


def _wait_for_job(jobs: Queue) -> WorkerJob | None:
    """The job; ``None`` when sent home, or when the supervisor is gone (killed: no job will
    come, and a spare must not wait for ever)."""
    parent = os.getppid()
    while True:
        try:
            return jobs.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return None


def _rss_mb() -> float | None:
    """Resident memory of this worker, recorded per trial to show memory stays bounded."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return None


def _prepare(config: SearchConfig) -> DataSplits:
    """What every job of this search needs: quiet logs, TensorFlow imported, the data loaded."""
    from automl._quiet import quiet_logs

    quiet_logs(config.verbose)  # before TensorFlow is imported below
    import automl.search._training  # noqa: F401  (imports TensorFlow)

    data = config.open_task().load(config.data_dir, config.validation_fraction, config.seed)
    # TensorFlow's and Keras's modules are some 450,000 objects that live as long as the
    # process: frozen, they are skipped by the full collection after each trial (0.23 s -> 0.02 s
    # a trial on 2 cores).
    gc.freeze()
    return data


def _run(
    config: SearchConfig, job: WorkerJob, data: DataSplits, send, host_busy: Callable[[], bool]
) -> int:
    import optuna

    from automl.search._artifacts import ArtifactKeeper
    from automl.search._optuna import (
        MAX_CONSECUTIVE_FAILURES,
        StopAfterFailures,
        make_pruner,
        make_sampler,
        open_optuna_storage,
        retries_first,
        study_callbacks,
    )
    from automl.search._training import Objective

    store = TrialStore(config.storage_url)
    study = retries_first(
        optuna.load_study(
            study_name=config.name,
            storage=open_optuna_storage(store),
            sampler=make_sampler(config, job.worker_index),
            pruner=make_pruner(config),
        ),
        store.queue_lock,
    )
    artifacts = open_artifact_store(config.artifacts)  # type: ignore[arg-type]
    keeper = ArtifactKeeper(store, config.name, artifacts, config.keep_best)
    objective = Objective(
        config,
        data,
        store,
        keeper,
        job.deadline,
        job.plan,
        screening_over=job.final,
        host_busy=host_busy,
        log=lambda message: send("log", message),
    )

    ran = 0

    def announced(trial: optuna.Trial) -> float:
        nonlocal ran
        ran += 1
        send("trial", trial.number)
        trial.set_user_attr("worker_pid", os.getpid())
        try:
            return objective(trial)
        finally:
            trial.set_user_attr("worker_rss_mb", _rss_mb())

    timeout = None if job.deadline is None else job.deadline - time.time()
    if timeout is not None and timeout <= 0:
        return 0
    guard = StopAfterFailures(MAX_CONSECUTIVE_FAILURES)
    try:
        study.optimize(
            announced,
            n_trials=job.n_trials,
            timeout=timeout,
            catch=(TrialFailure,),
            callbacks=study_callbacks(
                config,
                guard,
                store,
                lambda n, r: send("failed", (n, r)),
                count_trials=not job.final,
            ),
            gc_after_trial=False,  # the objective clears the Keras session itself
            show_progress_bar=False,  # the supervisor draws one bar over all workers
        )
        if guard.tripped:
            last = store.trials(config.name)[-1]
            raise AutoMLError(
                f"{MAX_CONSECUTIVE_FAILURES} trials in a row failed; last reason: {last.reason}"
            )
        return ran  # not a count of the study's trials: enqueued ones wait there
    finally:
        store.close()
