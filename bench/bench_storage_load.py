"""Many workers on one study, through the same storage path as real trials, without training.

Each worker is a process that opens the store and Optuna's storage as `automl search` workers
do, and runs quick trials of a stub objective: every trial asks Optuna, starts our row,
writes --epochs epoch rows (reporting each to Optuna's pruner), and finishes both. Then the
study is checked: no trial lost or run twice, every trial final, epoch rows as run. Prints
trials per second and the per-epoch write latency (p50/p99). The load test in the suite
(tests/e2e/test_storage_load.py) runs the same with fewer trials.

    .venv/bin/python bench/bench_storage_load.py --backend sqlite postgresql --workers 1 2 4
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

STUDY = "load"


def stub_worker(url: str, trials: int, epochs: int, seed: int) -> list[float]:
    """One worker process; returns its per-epoch write latencies in seconds."""
    import optuna

    from automl._quiet import quiet_logs
    from automl.search import open_optuna_storage
    from storage import TrialState, TrialStore

    quiet_logs()
    store = TrialStore(url)
    study = optuna.load_study(
        study_name=STUDY,
        storage=open_optuna_storage(store),
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=optuna.pruners.NopPruner(),
    )
    latencies: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        row = store.start_trial(STUDY, trial.number)
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            store.record_epoch(row.id, epoch, seconds=0.0, val_accuracy=x * epoch / epochs)
            trial.report(x * epoch / epochs, epoch)
            latencies.append(time.perf_counter() - started)
        store.finish_trial(row.id, TrialState.COMPLETE, value=x, best_epoch=epochs)
        return x

    study.optimize(objective, n_trials=trials)
    store.close()
    return latencies


def _run(args: tuple[str, int, int, int]) -> list[float]:
    return stub_worker(*args)


@dataclass(frozen=True)
class LoadResult:
    seconds: float
    trials: int
    epoch_latencies: list[float]
    problems: list[str]

    def describe(self) -> str:
        p50, p99 = (statistics.quantiles(self.epoch_latencies, n=100)[i] for i in (49, 98))
        return (
            f"{self.trials} trials in {self.seconds:.1f} s ({self.trials / self.seconds:.1f}/s); "
            f"epoch write p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
            f"{len(self.problems)} problems"
        )


def check(url: str, expected: int, epochs: int) -> list[str]:
    """Everything that went wrong, compared with what the workers were asked to do."""
    import optuna

    from storage import TrialState, TrialStore

    store = TrialStore(url, create=False)
    ours = store.trials(STUDY)
    theirs = optuna.load_study(study_name=STUDY, storage=url).trials
    problems = []
    if sorted(t.number for t in theirs) != list(range(expected)):
        problems.append(f"Optuna has trials {len(theirs)}, expected 0..{expected - 1} once each")
    if [t.number for t in ours] != list(range(expected)):
        problems.append(f"the store has {len(ours)} trial rows, expected {expected}")
    problems += [
        f"trial {t.number} is {t.state.value}" for t in ours if t.state is not TrialState.COMPLETE
    ]
    problems += [
        f"Optuna trial {t.number} is {t.state.name}" for t in theirs if t.state.name != "COMPLETE"
    ]
    per_trial: dict[int, list[int]] = {}
    for epoch in store.epochs(STUDY):
        per_trial.setdefault(epoch.trial_number, []).append(epoch.epoch)
    wrong = [
        n for n in range(expected) if sorted(per_trial.get(n, [])) != list(range(1, epochs + 1))
    ]
    problems += [f"trial {n}: epochs {per_trial.get(n)}" for n in wrong]
    problems += [
        f"trial {t.number}: epochs_run {t.epochs_run}" for t in ours if t.epochs_run != epochs
    ]
    store.close()
    return problems


def run_load(url: str, workers: int, trials_per_worker: int, epochs: int) -> LoadResult:
    """A fresh study, ``workers`` processes started at once, then the check."""
    import optuna

    from automl.search import SEARCH_SPACE_VERSION, open_optuna_storage
    from storage import TrialStore

    store = TrialStore(url)
    store.ensure_study(STUDY, "digits", SEARCH_SPACE_VERSION, {})
    optuna.create_study(study_name=STUDY, storage=open_optuna_storage(store), direction="maximize")
    store.close()
    started = time.perf_counter()
    jobs = [(url, trials_per_worker, epochs, seed) for seed in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        latencies = [x for worker in pool.map(_run, jobs) for x in worker]
    seconds = time.perf_counter() - started
    expected = workers * trials_per_worker
    return LoadResult(seconds, expected, latencies, check(url, expected, epochs))


@contextmanager
def fresh_database(backend: str, admin_url: str) -> Iterator[str]:
    """An empty SQLite file or PostgreSQL database for one run, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/load.db"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"automl_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], nargs="+",
                        default=["sqlite", "postgresql"])  # fmt: skip
    parser.add_argument("--admin-url", default="postgresql+psycopg://root@127.0.0.1/postgres")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--trials", type=int, default=200, help="per worker")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    for backend in args.backend:
        for workers in args.workers:
            with fresh_database(backend, args.admin_url) as url:
                result = run_load(url, workers, args.trials, args.epochs)
            print(f"{backend}, {workers} workers: {result.describe()}", flush=True)
            for problem in result.problems[:10]:
                print(f"  {problem}")


if __name__ == "__main__":
    main()
