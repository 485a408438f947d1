"""Choosing which trial a command acts on; promoting one to the study's champion."""

from __future__ import annotations

from pathlib import Path

from automl._errors import AutoMLError
from automl.release._evaluate import evaluate_trial
from automl.search import verified_artifact
from storage import PromotionRecord, TrialRecord, TrialState, TrialStore


def resolve_trial(
    store: TrialStore, study_name: str, number: int | None, *, prefer_champion: bool = False
) -> tuple[TrialRecord, str]:
    """The trial asked for, else the champion (if preferred), else the best one with a model.

    Returns the trial and a phrase saying why it was chosen.
    """
    if number is not None:
        trial = store.trial(study_name, number)
        if trial.state is not TrialState.COMPLETE:
            raise AutoMLError(
                f"trial {number} of {study_name!r} is {trial.state.value}, not COMPLETE"
            )
        return trial, f"trial {number}"
    if prefer_champion:
        champion = store.champion(study_name)
        if champion is not None:
            return champion, f"the champion, trial {champion.number}"
    best = store.best_trial(study_name, with_artifact=True)
    if best is None:
        if store.best_trial(study_name) is None:
            raise AutoMLError(f"study {study_name!r} has no completed trial yet")
        raise AutoMLError(f"no completed trial of {study_name!r} has a saved model")
    reason = "no champion yet: the best trial" if prefer_champion else "the best trial"
    return best, f"{reason}, trial {best.number}"


def promote_trial(
    store: TrialStore,
    study_name: str,
    number: int | None = None,
    note: str | None = None,
    data_dir: Path | None = None,
) -> tuple[PromotionRecord, str]:
    """Make a trial (default: the best with a model) champion; evaluate it first if needed."""
    trial, because = resolve_trial(store, study_name, number)
    verified_artifact(store, study_name, trial.number)  # a champion must be exportable
    if store.evaluation(study_name, trial.number) is None:
        evaluate_trial(store, study_name, trial.number, data_dir)
    return store.promote(study_name, trial.number, note), because
