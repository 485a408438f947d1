"""Saved models: keep those of the best k completed trials, and check one before it is used."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from automl._errors import AutoMLError
from automl.search._artifact_store import ArtifactStore, fetch_verified, sha256_of
from storage import ArtifactRecord, TrialFilter, TrialStore

if TYPE_CHECKING:
    import keras


_COMPLETED = TrialFilter(states=("COMPLETE",))


def model_key(study_name: str, number: int) -> str:
    return f"{study_name}/trial-{number:05d}.keras"


class ArtifactKeeper:
    def __init__(
        self, store: TrialStore, study_name: str, artifacts: ArtifactStore, keep: int
    ) -> None:
        self.store = store
        self.study_name = study_name
        self.artifacts = artifacts
        self.keep = keep

    def _top_numbers(self) -> list[int]:
        """The best k completed trials, read best first from the store's index: the same
        few rows whether the study has fifty trials or fifty thousand."""
        best = self.store.top_trials(self.study_name, _COMPLETED, limit=self.keep)
        return [t.number for t in best if t.value is not None]

    def offer(self, number: int, model: keras.Model) -> ArtifactRecord | None:
        """Save ``model`` if its (already COMPLETE) trial is among the best k, then tidy up."""
        saved = None
        if number in self._top_numbers():
            with tempfile.TemporaryDirectory(prefix="automl-model-") as staging:
                staged = Path(staging) / f"trial-{number:05d}.keras"
                model.save(staged)
                size, digest = staged.stat().st_size, sha256_of(staged)
                location = self.artifacts.put(staged, model_key(self.study_name, number))
            saved = self.store.save_artifact(self.study_name, number, location, size, digest)
        self.prune()
        return saved

    def prune(self) -> None:
        """Forget the models of trials no longer among the best k and delete their files, only
        where this keeper puts a trial's model: a location recorded elsewhere (another store,
        an edited database) is forgotten, never deleted."""
        keep = set(self._top_numbers())
        for artifact in self.store.artifacts(self.study_name):
            if artifact.trial_number not in keep:
                self.store.delete_artifact(self.study_name, artifact.trial_number)
                key = model_key(self.study_name, artifact.trial_number)
                if artifact.location == self.artifacts.location(key):
                    self.artifacts.remove(key)


def verified_artifact(
    store: TrialStore, study_name: str, number: int
) -> tuple[ArtifactRecord, Path]:
    """The trial's saved model as a local file (fetched from the artifact store when it is
    remote), refusing a missing file or one changed since it was stored."""
    artifact = store.artifact(study_name, number)
    if artifact is None:
        raise AutoMLError(
            f"trial {number} of {study_name!r} has no saved model (only the best --keep-best are kept)"
        )
    path = fetch_verified(artifact.location, artifact.sha256, f"the saved model of trial {number}:")
    return artifact, path
