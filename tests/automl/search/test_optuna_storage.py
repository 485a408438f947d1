"""Workers starting at the same instant on an empty PostgreSQL database."""

from __future__ import annotations

import multiprocessing


def _open(url: str, barrier, results) -> None:
    from automl.search import open_optuna_storage
    from storage import TrialStore

    store = TrialStore(url)
    barrier.wait()  # every process creates Optuna's tables at the same moment
    try:
        open_optuna_storage(store)
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_four_workers_create_the_schema_together(postgres_url: str) -> None:
    # Without the schema lock this failed every time (5 runs of 5) with a UniqueViolation on
    # Optuna's CREATE TYPE studydirection, as in the issue.
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_open, args=(postgres_url, barrier, results)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [results.get(timeout=5) for _ in processes] == ["ok"] * 4
