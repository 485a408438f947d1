"""Create or resume a study and run its trials in recycled worker processes."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import optuna
from optuna.trial import TrialState as OptunaState
from tqdm import tqdm

from automl._errors import AutoMLError, Terminated
from automl._quiet import progress_bar_wanted, quiet_logs
from automl._workers import BUDGET_START_VARIABLE, machine_shared
from automl.data import ImageFolderTask
from automl.search._artifact_store import ArtifactStore, open_artifact_store
from automl.search._budget import (
    COST_ATTRS,
    EPOCH_CAP_ATTR,
    FINAL_DEADLINE_ATTR,
    FINAL_SHARE,
    PHASE_ATTR,
    BudgetPlan,
    default_final_share,
    epochs_through,
)
from automl.search._config import SearchConfig
from automl.search._optuna import (
    make_pruner,
    make_sampler,
    open_optuna_storage,
    reconcile,
    retry_dead_trial,
)
from automl.search._search_space import SEARCH_SPACE_VERSION, SMALL_DATA_IMAGES, portfolio
from automl.search._warm_start import warm_start_params
from automl.search._worker import WorkerJob, worker_main
from storage import TrialFilter, TrialRecord, TrialState, TrialStore, fraction_text

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
    _check_models_folder(config, open_artifact_store(config.artifacts))  # type: ignore[arg-type]
    # This process only supervises: the workers train, each with TensorFlow of its own.
    quiet_logs(config.verbose, start_tensorflow=False)
    if isinstance(task, ImageFolderTask):
        config = _checked_images(config, task, log)
    # Loaded here once, so that bad data is refused before anything is stored (the workers
    # load it again; 8-bit images cost a quarter of float32, a folder's cache is only mapped).
    data = task.load(config.data_dir, config.validation_fraction, config.seed)
    data_summary, validation_images = data.describe(), len(data.y_val)
    training_images = len(data.y_train)
    del data
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
        _check_same_images(record.config, config)
        study = _load_study(config, store, first, log, training_images)
        reconcile(store, study)
        if on_ready is not None:
            on_ready()
        _optimize(config, store, study, log, validation_images)
        return _finish(config, store, started, data_summary)
    finally:
        store.close()


def _check_models_folder(config: SearchConfig, artifacts: ArtifactStore) -> None:
    """The models' folder or bucket can be written, and holds no other study's models.

    Two databases side by side share the models' folder next to them: a new study named as
    one in the other database would write over that study's models, and ``doctor --repair``
    would delete them as files no trial of its own points to."""
    artifacts.check()
    folder = f"{config.name}/"
    models = [key for key in artifacts.keys(folder) if key.endswith(".keras")]
    if models and not TrialStore.holds_study(config.storage_url, config.name):
        raise AutoMLError(
            f"{artifacts.location(folder)} already holds {len(models)} saved "
            f"model{'s' if len(models) > 1 else ''} of a study "
            f"named {config.name!r} that this database does not hold (another database's, or "
            "one deleted): choose another --study or --artifacts DIR, or move them away"
        )


def _checked_images(config: SearchConfig, task: ImageFolderTask, log: Log) -> SearchConfig:
    """Your own images: listed, checked and decoded once, before anything is stored; the
    settings they resolved (size, colour mode) are recorded with the study."""
    data = task.dataset
    options = data.options
    names = ", ".join(data.class_names[:8]) + (", ..." if len(data.class_names) > 8 else "")
    log(
        f"images: {len(data.labels)} in {len(data.class_names)} classes ({names}); "
        f"{options.image_size}x{options.image_size} {options.color_mode}, resized by "
        f"{options.resize}; {data.describe_skipped()}"
    )
    for warning in data.warnings:
        log(f"warning: {warning}")
    return replace(config, images=options.to_json(), class_names=data.class_names)


def _check_same_images(recorded: dict, config: SearchConfig) -> None:
    """A resumed study of your own images must see them as its first run did."""
    if config.images is None:
        return
    then, now = (json.loads(json.dumps(c)) for c in (recorded, config.to_json()))
    for key in ("images", "class_names"):
        if then.get(key) != now[key]:
            raise AutoMLError(
                f"study {config.name!r} was searched with {key} {then.get(key)}, this run "
                f"has {now[key]}: use the same data and options, or another --study"
            )


def _load_study(
    config: SearchConfig, store: TrialStore, first: list[dict], log: Log, training_images: int
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
        if config.enqueue_default:
            first = first + portfolio(config.open_task().input_shape, training_images)
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
    config: SearchConfig, store: TrialStore, study: optuna.Study, log: Log, validation_images: int
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
    supervisor = _Supervisor(config, store, log, plan, initial=done)
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
            _final_phase(config, study, supervisor, plan, log, validation_images)
    finally:
        supervisor.close()


def screening_winner(
    trials: list[optuna.trial.FrozenTrial], validation_images: int | None = None
) -> optuna.trial.FrozenTrial | None:
    """The best candidate at the highest rung that at least two candidates reached.

    Scores are compared only at equal fidelity. The highest rung alone would crown whichever
    candidate got there first (successive halving promotes the first arrivals unopposed), so
    the comparison is made where there was competition: a candidate there that went further
    is judged by its score at that rung like the others.

    Given the validation split's size, a sampled candidate must beat the first known-good
    configuration there (the portfolio's, or a warm start's: enqueued before the sampler's) by
    more than that split can tell apart: one standard error of the difference of two
    accuracies for a single challenger (on 400 validation images about 3 points), more for
    several, as the best of several noisy scores is lucky (``_lead_needed``). A closer lead is
    noise, and the known-good configuration is the safer one to train for the rest of the
    budget. If it went further than that rung, it is held to its last score: on a slow host
    the small-data default (a slow starter) reached 0.83 at its third rung alone, and lost to
    the strong default's 0.74 at the first, where it had 0.63 (BENCHMARKS.md, session 19).
    """
    screened = [
        t
        for t in trials
        if t.user_attrs.get(PHASE_ATTR) != "final"
        and t.state in (OptunaState.COMPLETE, OptunaState.PRUNED)
        and t.intermediate_values
        and all(name in t.user_attrs for name in COST_ATTRS)
    ]
    if not screened:
        return None
    reached = sorted((max(t.intermediate_values) for t in screened), reverse=True)
    step = reached[1] if len(reached) > 1 else reached[0]
    contenders = [t for t in screened if step in t.intermediate_values]
    best = max(contenders, key=lambda t: (t.intermediate_values[step], -t.number))
    first = _first_known_good(contenders)
    if not validation_images or first is None:
        return best
    high = best.intermediate_values[step]
    low = max(
        first.intermediate_values[step], first.intermediate_values[max(first.intermediate_values)]
    )
    lead_needed = _lead_needed(high, low, validation_images, challengers=len(contenders) - 1)
    return best if high - low > lead_needed else first


def _first_known_good(
    trials: list[optuna.trial.FrozenTrial],
) -> optuna.trial.FrozenTrial | None:
    """The earliest enqueued trial (the portfolio's, or a warm start's), if any."""
    known = [t for t in trials if "fixed_params" in t.system_attrs]
    return min(known, key=lambda t: t.number) if known else None


#: How often a lone challenger no better than the known-good one displaces it by chance: a
#: lead of more than one standard error.
_CHANCE_WIN = 1 - NormalDist().cdf(1.0)


def _lead_needed(p: float, q: float, images: int, challengers: int) -> float:
    """The lead over the known-good score ``q`` that ``challengers`` candidates no better than
    it would all miss as often as one misses one standard error (Sidak's correction): one
    standard error for one challenger, 1.6 for three, 2.1 for ten. The best of several is
    chosen by its score, so its lead is partly luck (and on small data a fast starter's lead
    after 4 epochs may not last the final's 30-50: BENCHMARKS.md, session 10)."""
    standard_error = math.sqrt((p * (1 - p) + q * (1 - q)) / images)
    z = NormalDist().inv_cdf((1 - _CHANCE_WIN) ** (1 / max(1, challengers)))
    return z * standard_error


def _final_phase(
    config: SearchConfig,
    study: optuna.Study,
    supervisor: _Supervisor,
    plan: BudgetPlan,
    log: Log,
    validation_images: int,
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
    winner = screening_winner(candidates, validation_images)
    # A budget too short to finish one rung still ends with a model: the known-good
    # configuration screened first, trained unscreened for the time that is left.
    fallback = winner is None
    if fallback:
        winner = _first_known_good(candidates)
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
    top = screening_winner(candidates)
    if fallback:
        kept = " (no candidate finished a screening rung: the first known-good one, unscreened)"
    elif top is not None and top.number != winner.number:
        kept = (
            f" (trial {top.number} screened higher, by less than {validation_images} "
            "validation images can tell apart)"
        )
    else:
        kept = ""
    log(
        f"final phase: trial {winner.number}'s configuration on all the data, "
        f"{left:.0f} s left{limit}{kept}"
    )
    supervisor.phase = "final"
    trials = study.get_trials(deepcopy=False)
    # Optuna's queue is first in, first out: candidates still queued for screening (the
    # portfolio's, a retry) come out first and are closed at once; then the final runs.
    ahead = sum(
        1
        for t in trials
        if t.state == OptunaState.WAITING and t.user_attrs.get(PHASE_ATTR) != "final"
    )
    supervisor.run(WorkerJob(1 + ahead, plan.deadline, len(trials), plan, final=True))


def quick_final_epochs(epochs: int, winner: optuna.trial.FrozenTrial) -> int:
    """A quick search's final run: ``--epochs``, but never fewer epochs than its winner
    trained through its screening rungs."""
    return max(epochs, epochs_through(max(winner.intermediate_values, default=0)))


@dataclass(frozen=True)
class _WorkerProcess:
    process: multiprocessing.process.BaseProcess
    jobs: Any  # multiprocessing queues: WorkerJob (or None) in, (kind, payload) messages out
    messages: Any


class _Supervisor:
    """Runs one worker process, relays its messages, and cleans up after a crash."""

    POLL_S = 1.0
    STOP_GRACE_S = 20.0

    def __init__(
        self,
        config: SearchConfig,
        store: TrialStore,
        log: Log,
        plan: BudgetPlan | None,
        initial: int,
    ) -> None:
        self.config, self.store, self.log, self.plan = config, store, log, plan
        self.phase = "screening" if plan else ""
        self._postfix = ""
        self._spare: _WorkerProcess | None = None
        self._context = multiprocessing.get_context("spawn")  # never fork a TensorFlow process
        self._spare_loading = self._context.Event()
        if plan is None:
            self.bar = tqdm(
                total=config.trial_limit,
                initial=initial,
                unit="trial",
                disable=not progress_bar_wanted(config.verbose),
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trials [{elapsed}<{remaining}{postfix}]",
            )
        else:  # a timed search: the bar is the budget, its end the deadline
            self.bar = tqdm(
                total=round(plan.seconds),
                unit="s",
                disable=not progress_bar_wanted(config.verbose),
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} s{postfix}",
            )

    def close(self) -> None:
        if self._spare is not None:  # not needed after all: sent home, killed if it hangs
            process = self._spare.process
            self._spare.jobs.put(None)
            process.join(timeout=self.STOP_GRACE_S)
            if process.is_alive():
                process.kill()
                process.join()
            self._spare = None
        self.update_bar()
        self.bar.close()

    def _start_worker(self, *, spare: bool = False) -> _WorkerProcess:
        jobs, messages = self._context.Queue(), self._context.Queue()
        if spare:
            self._spare_loading.set()  # the spare clears it once it is ready
        process = self._context.Process(
            target=worker_main,
            args=(self.config, jobs, messages, self._spare_loading, spare),
            daemon=True,
        )
        process.start()
        return _WorkerProcess(process, jobs, messages)

    def run(self, job: WorkerJob, *, more_to_come: bool = False) -> int:
        """One worker runs ``job``. With ``more_to_come`` the next worker starts now and gets
        ready meanwhile: a new worker's imports and data loading take 5-15 s of a short budget
        on 2 cores. The first two start together, before anything trains: a worker getting
        ready beside a training one slows it, and the first candidate's pace (the strong
        default's) is measured then (BENCHMARKS.md, session 19)."""
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
                    self.update_bar()
                    if self._spare is not None and not self._spare.process.is_alive():
                        self._spare_loading.clear()  # it died getting ready: never will be
                    if not process.is_alive():
                        break
                    continue
                if kind == "trial":
                    current = int(payload)  # type: ignore[arg-type]
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
        if number is None:
            return
        storage = open_optuna_storage(self.store)
        trial_id = storage.get_trial_id_from_study_id_trial_number(
            storage.get_study_id_from_name(self.config.name), number
        )
        retried = ""
        if not storage.get_trial(trial_id).state.is_finished():
            storage.set_trial_state_values(trial_id, OptunaState.FAIL)
            # As Optuna does for a trial whose heartbeat stopped: its parameters once more.
            study = optuna.load_study(study_name=self.config.name, storage=storage)
            queued = len(study.get_trials(deepcopy=False))
            retry_dead_trial(study, storage.get_trial(trial_id))
            if len(study.get_trials(deepcopy=False)) > queued:
                retried = "; its configuration is queued to run again"
        record = self.store.trial(self.config.name, number)
        if record.state is TrialState.RUNNING:
            self.store.finish_trial(record.id, TrialState.FAIL, reason=reason)
        self.log(f"trial {number} failed: {reason}{retried}")

    def _count(self, where: TrialFilter) -> int:
        return self.store.trial_page(self.config.name, where, limit=1).total

    def _running_text(self) -> str:
        """The latest running trial: its epoch and data fraction, and its validation accuracy
        so far (a final run trains for minutes, its score changes under the best's)."""
        running_now = TrialFilter(states=(TrialState.RUNNING.value,))
        running = self.store.top_trials(self.config.name, running_now, sort="number", limit=1)
        if not running:
            return ""
        t = running[0]
        if not t.epochs_run:
            return f"trial {t.number} starting"
        fraction = f" on {fraction_text(t.data_fraction)} of the data" if t.data_fraction else ""
        epochs = self.store.epochs(self.config.name, [t.number])
        score = epochs[-1].val_accuracy if epochs else None
        so_far = f", val acc {score:.4f}" if score is not None else ""
        return f"trial {t.number} epoch {t.epochs_run}{fraction}{so_far}"

    def update_bar(self) -> None:
        """Poll the store: counts every worker's trials, other machines' included. A few
        small queries, not the study's trials: a resumed study may hold thousands."""
        if self.bar.disable:  # --verbose, or a helper worker writing to a log file
            return
        complete = TrialFilter(states=(TrialState.COMPLETE.value,))
        best = next(iter(self.store.top_trials(self.config.name, complete, limit=1)), None)
        best_text = (
            f"best val acc {best.value:.4f} (trial {best.number})"
            if best is not None and best.value is not None
            else ""
        )
        if self.plan is None:
            finished = TrialFilter(states=tuple(s.value for s in TrialState if s.is_finished))
            position = min(self._count(finished), self.bar.total)
            postfix, desc = best_text, ""
        else:
            now = time.time()
            position = min(self.bar.total, max(0, round(now - self.plan.start)))
            desc = self.phase
            postfix = "; ".join(
                part
                for part in (
                    f"{max(0.0, self.plan.deadline - now):.0f} s left",
                    f"{self._count(TrialFilter(phases=('screening',), min_epochs=1))} screened",
                    self._running_text(),
                    best_text,
                )
                if part
            )
        changed = (position, postfix, desc) != (self.bar.n, self._postfix, self.bar.desc)
        self.bar.n, self._postfix = position, postfix
        if changed:
            self.bar.set_description_str(desc, refresh=False)
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
        model_path=artifact.location if artifact is not None else None,
        data_summary=data_summary,
        seconds=time.monotonic() - started,
    )


__all__ = ["SearchResult", "run_study"]
