"""`automl doctor`: what a crash can leave behind in a study, found and, when asked, repaired.

A killed worker, a lost machine or a full disk can leave: Optuna trials RUNNING that no
process runs any more (their heartbeat stopped), our trial rows out of step with Optuna's,
saved models missing or changed in the artifact store (a folder or a bucket), and model
files no record points to. Finding
changes nothing; repairing does only what each finding says it will.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import optuna

from automl.search._artifact_store import (
    ArtifactStore,
    ModelChanged,
    ModelMissing,
    fetch_verified,
    store_of,
)
from automl.search._config import study_artifact_store
from automl.search._optuna import FINISHED_STATES, open_optuna_storage, reconcile
from storage import TrialState, TrialStore


@dataclass(frozen=True)
class Finding:
    kind: str
    trial: int | None
    detail: str
    repair: str  # what --repair does about it ("" when nothing can be done automatically)
    location: str | None = None  # the model file concerned: a path or s3:// URL


def _stale_numbers(storage: optuna.storages.RDBStorage, name: str) -> set[int]:
    """RUNNING trials whose heartbeat is older than the grace period. Optuna's heartbeat
    interface offers this only as ``_get_stale_trial_ids`` (what ``fail_stale_trials`` uses)."""
    study_id = storage.get_study_id_from_name(name)
    return {storage.get_trial_number_from_id(i) for i in storage._get_stale_trial_ids(study_id)}


def _trial_findings(store: TrialStore, study: optuna.Study, stale: set[int]) -> list[Finding]:
    ours = {t.number: t for t in store.trials(study.study_name)}
    trials = study.get_trials(deepcopy=False)
    findings = []
    for trial in trials:
        if trial.number in stale:
            findings.append(
                Finding(
                    "stale trial",
                    trial.number,
                    "RUNNING in Optuna, but its worker stopped sending heartbeats",
                    "fail it (its configuration is queued once more) and close our row",
                )
            )
            continue
        row = ours.get(trial.number)
        if trial.state in FINISHED_STATES and row is not None and row.state is TrialState.RUNNING:
            findings.append(
                Finding(
                    "row out of step",
                    trial.number,
                    f"Optuna says {trial.state.name}, the trial store still says RUNNING",
                    f"close our row as {FINISHED_STATES[trial.state].value}",
                )
            )
        elif trial.state in FINISHED_STATES and row is None and trial.params:
            findings.append(
                Finding(
                    "no trial row",
                    trial.number,
                    f"{trial.state.name} in Optuna, never recorded in the trial store "
                    "(its worker died before the trial began)",
                    "",
                )
            )
    numbers = {t.number for t in trials}
    for number, row in ours.items():
        if number not in numbers:
            findings.append(
                Finding("no Optuna trial", number, f"{row.state.value} row without a trial", "")
            )
    return findings


def _artifact_findings(store: TrialStore, name: str, artifacts: ArtifactStore) -> list[Finding]:
    """Each recorded model checked in the artifact store (a bucket's are downloaded to be
    hashed), and every model file under the study's folder that no record points to."""
    findings = []
    champion = store.champion(name)
    recorded = set()
    for artifact in store.artifacts(name):
        recorded.add(artifact.location)
        role = " (the champion's)" if champion and champion.number == artifact.trial_number else ""
        # An artifact store that cannot be reached stops the doctor (AutoMLError): only a
        # model that is really gone or really changed is reported, and so repaired.
        try:
            holder, key = store_of(artifact.location)
            if not holder.exists(key):  # asked of the store itself, never of a local cache
                raise ModelMissing(artifact.location)
            fetch_verified(artifact.location, artifact.sha256, "model", cached=False)
        except ModelMissing:
            findings.append(
                Finding(
                    "missing model",
                    artifact.trial_number,
                    f"{artifact.location}{role} is not in the artifact store",
                    "forget it (the trial keeps its scores)",
                    artifact.location,
                )
            )
        except ModelChanged:
            findings.append(
                Finding(
                    "changed model",
                    artifact.trial_number,
                    f"{artifact.location}{role} no longer matches its sha256",
                    f"forget it and move the file to {artifact.location}.corrupt",
                    artifact.location,
                )
            )
    for key in artifacts.keys(f"{name}/"):
        location = artifacts.location(key)
        if key.endswith((".keras", ".partial")) and location not in recorded:
            findings.append(
                Finding(
                    "orphan file",
                    None,
                    f"{location}: no trial record points to it",
                    "delete it",
                    location,
                )
            )
    return findings


def diagnose(store: TrialStore, name: str) -> list[Finding]:
    """Everything out of order in study ``name``; changes nothing."""
    record = store.get_study(name)
    storage = open_optuna_storage(store)
    study = optuna.load_study(study_name=name, storage=storage)
    return _trial_findings(store, study, _stale_numbers(storage, name)) + _artifact_findings(
        store, name, study_artifact_store(record.config)
    )


def repair(store: TrialStore, name: str, findings: list[Finding]) -> list[str]:
    """Do what each finding's ``repair`` says; returns one line per change made."""
    done = []
    study = optuna.load_study(study_name=name, storage=open_optuna_storage(store))
    if any(f.kind == "stale trial" for f in findings):
        with warnings.catch_warnings():  # "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # runs the retry callback, as workers do
        done.append("failed the stale trials in Optuna (each queued once more)")
    closed = reconcile(store, study)
    if closed:
        done.append(f"closed {closed} trial rows as Optuna had closed their trials")
    for finding in findings:
        if finding.kind == "missing model":
            store.delete_artifact(name, finding.trial)  # type: ignore[arg-type]
            done.append(f"trial {finding.trial}: forgot the missing model")
        elif finding.kind == "changed model" and finding.location is not None:
            artifacts, key = store_of(finding.location)
            artifacts.set_aside(key)
            store.delete_artifact(name, finding.trial)  # type: ignore[arg-type]
            done.append(f"trial {finding.trial}: set aside the changed model")
        elif finding.kind == "orphan file" and finding.location is not None:
            artifacts, key = store_of(finding.location)
            artifacts.remove(key)
            done.append(f"deleted {finding.location}")
    return done


__all__ = ["Finding", "diagnose", "repair"]
