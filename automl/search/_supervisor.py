"""The supervisor: runs each batch of trials in a fresh worker process (memory stays flat),
starts the next one while the current trains, relays its messages, and cleans up after a
crash or a signal."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState as OptunaState

from automl._errors import AutoMLError, Terminated
from automl.search._budget import BudgetPlan
from automl.search._config import SearchConfig
from automl.search._optuna import close_dead_trial, close_running_row, open_optuna_storage
from automl.search._progress import SearchProgress
from automl.search._worker import WorkerJob, worker_main
from storage import TrialStore


@dataclass(frozen=True)
class WorkerProcess:
    process: multiprocessing.process.BaseProcess
    jobs: Any  # multiprocessing queues: WorkerJob (or None) in, (kind, payload) messages out
    messages: Any


class Supervisor:
    """Runs one worker process, relays its messages, and cleans up after a crash."""

    POLL_S = 1.0
    STOP_GRACE_S = 20.0

    def __init__(
        self,
        config: SearchConfig,
        store: TrialStore,
        log: Callable[[str], None],
        plan: BudgetPlan | None,
        initial: int,
    ) -> None:
        self.config, self.store, self.log, self.plan = config, store, log, plan
        self.progress = SearchProgress(config, store, plan, initial, log)
        self._spare: WorkerProcess | None = None
        self._context = multiprocessing.get_context("spawn")  # never fork a TensorFlow process
        self._spare_loading = self._context.Event()

    def close(self) -> None:
        if self._spare is not None:  # not needed after all: sent home, killed if it hangs
            process = self._spare.process
            self._spare.jobs.put(None)
            process.join(timeout=self.STOP_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
            self._spare = None
        self.progress.close()

    def _start_worker(self, *, spare: bool = False) -> WorkerProcess:
        jobs, messages = self._context.Queue(), self._context.Queue()
        if spare:
            self._spare_loading.set()  # the spare clears it once it is ready
        process = self._context.Process(
            target=worker_main,
            args=(self.config, jobs, messages, self._spare_loading, spare),
            daemon=True,
        )
        process.start()
        return WorkerProcess(process, jobs, messages)

    def run(self, job: WorkerJob, *, more_to_come: bool = False) -> int:
        """One worker runs ``job``. With ``more_to_come`` the next worker starts now and gets
        ready meanwhile: a new worker's imports and data loading take 5-15 s of a short budget
        on 2 cores. The first two start together, before anything trains: a worker getting
        ready beside a training one slows it, and the first candidate's pace (the strong
        default's) is measured then."""
        worker = self._spare or self._start_worker()
        self._spare = self._start_worker(spare=True) if more_to_come else None
        process, messages = worker.process, worker.messages
        worker.jobs.put(job)
        current: int | None = None
        outcome: tuple[str, object] | None = None
        try:
            while outcome is None:
                try:
                    kind, payload = messages.get(timeout=self.POLL_S)
                except queue.Empty:
                    self.progress.update()
                    if self._spare is not None and not self._spare.process.is_alive():
                        self._spare_loading.clear()  # it died getting ready: never will be
                    if not process.is_alive():
                        break
                    continue
                if kind == "trial":
                    current = int(payload)  # type: ignore[arg-type]
                elif kind == "log":
                    self.log(str(payload))
                elif kind == "failed":
                    number, reason = payload  # type: ignore[misc]
                    self.log(f"trial {number} failed: {reason}")
                else:
                    outcome = (kind, payload)
            process.join()
        except KeyboardInterrupt as exc:
            if self._stop(process, terminated=isinstance(exc, Terminated)):
                self._close_orphan(current, "the worker did not stop when asked: killed")
            raise
        if outcome is not None and outcome[0] == "disconnected":
            # Optuna's own calls do not retry: the worker gave up its trial. The store's do,
            # so closing it waits for the database to come back; then a new worker goes on.
            self.log(f"lost the database ({outcome[1]}); going on once it is back")
            self._close_orphan(current, f"database connection lost ({outcome[1]})")
            return 1
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

    def _stop(self, process: multiprocessing.Process, *, terminated: bool) -> bool:
        """Ctrl-C or SIGTERM: the worker closes its trial, then exits; True if it had to be
        killed. A terminal sends Ctrl-C to the worker too: it gets time to close its trial
        before a second SIGINT (which would cut that short). SIGTERM may have reached this
        process alone (Kubernetes) or both (systemd): it is passed on after a moment."""
        process.join(timeout=2.0 if terminated else self.STOP_GRACE_S)
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM if terminated else signal.SIGINT)
            process.join(timeout=self.STOP_GRACE_S)
        if process.is_alive():  # a third signal would only interrupt it once more: SIGKILL
            process.kill()
            process.join()
            return True
        return False

    def _close_orphan(self, number: int | None, reason: str) -> None:
        """The trial a dead worker was running: failed, as Optuna fails one whose heartbeat
        stopped, and its configuration queued once more; one that Optuna had already closed
        (it finished before the worker died) keeps its state, and only our row is closed."""
        if number is None:
            return
        storage = open_optuna_storage(self.store)
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(self.config.name), number
        )
        retried = ""
        if storage.get_trial(trial_id).state.is_finished():
            close_running_row(self.store, self.config.name, number, reason)
        else:
            storage.set_trial_state_values(trial_id, OptunaState.FAIL)
            study = optuna.load_study(study_name=self.config.name, storage=storage)
            if close_dead_trial(self.store, study, storage.get_trial(trial_id), reason):
                retried = "; its configuration is queued to run again"
        self.log(f"trial {number} failed: {reason}{retried}")


__all__ = ["Supervisor", "WorkerProcess"]
