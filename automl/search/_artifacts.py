"""Saved models: keep those of the best k completed trials, and check one before it is used."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from automl._errors import AutoMLError
from storage import ArtifactRecord, TrialState, TrialStore

if TYPE_CHECKING:
    import keras


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactKeeper:
    def __init__(self, store: TrialStore, study_name: str, directory: Path, keep: int) -> None:
        self.store = store
        self.study_name = study_name
        self.directory = directory / study_name
        self.keep = keep

    def _top_numbers(self) -> list[int]:
        completed = [
            t
            for t in self.store.trials(self.study_name, [TrialState.COMPLETE])
            if t.value is not None
        ]
        completed.sort(key=lambda t: (-t.value, t.number))  # type: ignore[operator]
        return [t.number for t in completed[: self.keep]]

    def offer(self, number: int, model: keras.Model) -> ArtifactRecord | None:
        """Save ``model`` if its (already COMPLETE) trial is among the best k, then tidy up."""
        saved = None
        if number in self._top_numbers():
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"trial-{number:05d}.keras"
            partial = path.with_name(path.stem + ".partial.keras")
            model.save(partial)
            os.replace(partial, path)  # a crash never leaves a truncated model under the name
            saved = self.store.save_artifact(
                self.study_name, number, str(path), path.stat().st_size, sha256_of(path)
            )
        self.prune()
        return saved

    def prune(self) -> None:
        keep = set(self._top_numbers())
        for artifact in self.store.artifacts(self.study_name):
            if artifact.trial_number not in keep:
                self.store.delete_artifact(self.study_name, artifact.trial_number)
                Path(artifact.path).unlink(missing_ok=True)


def verified_artifact(store: TrialStore, study_name: str, number: int) -> ArtifactRecord:
    """The trial's saved model, refusing a missing file or one changed since it was stored."""
    artifact = store.artifact(study_name, number)
    if artifact is None:
        raise AutoMLError(
            f"trial {number} of {study_name!r} has no saved model (only the best --keep-best are kept)"
        )
    path = Path(artifact.path)
    if not path.is_file():
        raise AutoMLError(f"the saved model {path} of trial {number} is missing")
    if sha256_of(path) != artifact.sha256:
        raise AutoMLError(f"{path} was changed on disk: its sha256 no longer matches the store")
    return artifact
