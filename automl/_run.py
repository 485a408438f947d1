"""The search as users run it: every trial, then one held-out test score for the best model."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from automl._errors import AutoMLError
from automl._quiet import quiet_logs
from automl.release import evaluate_trial
from automl.search import SearchConfig, SearchResult, run_study, verified_artifact
from storage import TrialStore


def run_search(
    config: SearchConfig,
    *,
    log: Callable[[str], None] | None = None,
    on_ready: Callable[[], None] | None = None,
    others_done: Callable[[], None] | None = None,
) -> SearchResult:
    """``automl.search.run_study``, then a full stored evaluation of its best saved model.

    ``on_ready`` and ``others_done`` (``--workers``): start the other workers once the study
    exists; wait for them before the best model is picked and scored."""
    result = run_study(config, log=log, on_ready=on_ready)
    store = TrialStore(config.storage_url)
    try:
        if others_done is not None:
            others_done()
        best = store.best_trial(config.name, with_artifact=True)
        result = dataclasses.replace(result, trials=store.trials(config.name), best=best)
        if best is None:
            return result
        artifact = store.artifact(config.name, best.number)
        result = dataclasses.replace(result, model_path=artifact.location if artifact else None)
        # A model scored before (a rerun of a finished study) keeps its score, once its file
        # is seen to be the one that was scored: no TensorFlow, no second pass over the data.
        evaluation = store.evaluation(config.name, best.number)
        try:
            if evaluation is None or best.test_accuracy is None:
                quiet_logs(config.verbose)  # TensorFlow, first needed in this process here
                evaluation = evaluate_trial(
                    store, config.name, best.number, config.data_dir, data=result.data
                )
            else:
                verified_artifact(store, config.name, best.number)
        except AutoMLError as exc:  # the artifact store went away: the study itself is done
            (log or print)(
                f"warning: the best model could not be scored: {exc}; "
                f"`automl evaluate --study {config.name}` scores it once it can be read"
            )
            return result
        return dataclasses.replace(
            result, best=store.trial(config.name, best.number), test_accuracy=evaluation.accuracy
        )
    finally:
        store.close()


__all__ = ["run_search"]
