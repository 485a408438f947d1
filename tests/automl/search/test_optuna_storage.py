"""Processes starting at the same instant on an empty database: workers on PostgreSQL, or
searches and the dashboard on one SQLite file."""

from __future__ import annotations

import multiprocessing

import pytest


def _open(url: str, barrier, results) -> None:
    from automl.search import open_optuna_storage
    from storage import TrialStore

    try:
        barrier.wait(timeout=60)  # all create the project's tables at the same moment...
        store = TrialStore(url)
        barrier.wait(timeout=60)  # ...then Optuna's
        open_optuna_storage(store)
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}"[:300])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_four_processes_create_the_schema_together(
    backend: str, request: pytest.FixtureRequest
) -> None:
    # Without the schema locks this failed nearly every time: on PostgreSQL (5 runs of 5) with
    # a UniqueViolation on Optuna's CREATE TYPE studydirection, as in the issue; on SQLite (4
    # and 5 runs of 5) with "table ... already exists", ours or Optuna's, as in CI.
    url = request.getfixturevalue(f"{backend}_url")
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_open, args=(url, barrier, results), daemon=True) for _ in range(4)
    ]
    for process in processes:
        process.start()
    # One that dies breaks the barrier for the others: each answers, none hangs.
    assert [results.get(timeout=120) for _ in processes] == ["ok"] * 4
    for process in processes:
        process.join(timeout=30)
