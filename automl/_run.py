"""The search as users run it: every trial, then one held-out test score for the best model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from automl.release import evaluate_trial
from automl.search import SearchConfig, SearchResult, run_study
from storage import TrialStore


def run_search(
    config: SearchConfig,
    *,
    log: Callable[[str], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> SearchResult:
    """``automl.search.run_study``, then a full stored evaluation of its best saved model."""
    result = run_study(config, log=log, on_ready=on_ready)
    if result.best is None:
        return result
    store = TrialStore(config.storage_url)
    try:
        evaluation = evaluate_trial(store, config.name, result.best.number, config.data_dir)
        return dataclasses.replace(
            result,
            trials=store.trials(config.name),
            best=store.trial(config.name, result.best.number),
            test_accuracy=evaluation.accuracy,
        )
    finally:
        store.close()


__all__ = ["run_search"]
