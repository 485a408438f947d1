"""The settings of one search, validated once, frozen afterwards."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl._errors import AutoMLError
from automl.backbones import BACKBONES, SCRATCH, get_backbone
from automl.search._artifact_store import ArtifactStore, is_remote, open_artifact_store
from storage import default_storage_url

if TYPE_CHECKING:
    from automl.data import Task

SAMPLERS = ("tpe", "random", "cmaes", "gp")
PRUNERS = ("auto", "hyperband", "median", "sha", "none")
CLASS_WEIGHTS = ("none", "balanced")
DEFAULT_TRIALS = 20
_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def default_data_dir() -> Path | None:
    value = os.environ.get("AUTOML_DATA_DIR")
    return Path(value) if value else None


def default_artifacts_dir(storage_url: str) -> Path:
    """Next to a SQLite database file; ./artifacts for server databases."""
    prefix = "sqlite:///"
    if storage_url.startswith(prefix) and storage_url[len(prefix) :] not in ("", ":memory:"):
        return Path(storage_url[len(prefix) :]).parent / "artifacts"
    return Path("artifacts")


@dataclass(frozen=True)
class SearchConfig:
    task: str
    study_name: str | None = None
    #: Candidates in the study (counting earlier runs). ``None``: as many as a timed search's
    #: screening share allows; DEFAULT_TRIALS for a search without a timeout.
    trials: int | None = None
    timeout_s: float | None = 600.0
    #: A timed search's share of the budget for the final run (screening gets the rest);
    #: ``None``: by the data's size (``default_final_share``).
    final_share: float | None = None
    epochs: int = 15
    patience: int = 3
    storage_url: str = field(default_factory=default_storage_url)
    data_dir: Path | None = field(default_factory=default_data_dir)
    #: Where saved models go: a folder (local or shared) or ``s3://bucket/prefix``.
    artifacts: str | None = None
    keep_best: int = 3
    max_params: int = 2_000_000
    validation_fraction: float = 0.1
    seed: int = 42
    sampler: str = "tpe"
    pruner: str = "auto"
    enqueue_default: bool = True
    warm_start: str | None = None
    trials_per_worker: int = 10
    verbose: bool = False
    #: ``balanced``: weigh each class's loss by n_samples / (n_classes * its count).
    class_weight: str = "none"
    #: Task ``images``: how files become inputs (``automl.data.ImageOptions`` as JSON); the
    #: search records them resolved (size, colour mode) so every later command matches.
    images: dict[str, Any] | None = None
    #: Task ``images``: the class names the scan found, recorded with the study.
    class_names: tuple[str, ...] | None = None
    #: What candidates start from: ``scratch`` (a CNN trained from scratch) and pretrained
    #: backbones (``automl.backbones``), a parameter the search decides between.
    backbones: tuple[str, ...] = (SCRATCH, *BACKBONES)
    #: A folder holding the backbones' weights files instead of their packages' copies.
    weights_dir: Path | None = None
    #: A backbone's input side; ``None``: as the budget allows (``search._pretrained``).
    backbone_resolution: int | None = None
    #: The user's fixes to the data (``automl.data.Overrides`` as JSON: rows and their hash).
    overrides: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        def positive(name: str, value: float | None, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if value is None or value <= 0:
                raise AutoMLError(f"--{name.replace('_', '-')} must be positive, got {value}")

        positive("trials", self.trials, allow_none=True)
        positive("epochs", self.epochs)
        positive("timeout", self.timeout_s, allow_none=True)
        positive("patience", self.patience)
        positive("keep_best", self.keep_best)
        positive("max_params", self.max_params)
        positive("trials_per_worker", self.trials_per_worker)
        if self.final_share is not None and not 0.1 <= self.final_share <= 0.9:
            raise AutoMLError(f"--final-share must be in [0.1, 0.9], got {self.final_share}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise AutoMLError(
                f"--validation-fraction must be in (0, 0.5), got {self.validation_fraction}"
            )
        if self.sampler not in SAMPLERS:
            raise AutoMLError(
                f"unknown sampler {self.sampler!r}; choose from {', '.join(SAMPLERS)}"
            )
        if self.pruner not in PRUNERS:
            raise AutoMLError(f"unknown pruner {self.pruner!r}; choose from {', '.join(PRUNERS)}")
        if self.class_weight not in CLASS_WEIGHTS:
            raise AutoMLError(
                f"unknown --class-weight {self.class_weight!r}; choose none or balanced"
            )
        if self.study_name is not None and not _STUDY_NAME.fullmatch(self.study_name):
            raise AutoMLError(
                f"invalid study name {self.study_name!r}: use letters, digits, '.', '_' or '-'"
            )
        if self.warm_start is not None and self.warm_start == (self.study_name or self.task):
            raise AutoMLError("--warm-start names the study being searched; name an earlier one")
        self._check_backbones()
        if self.study_name is None:
            object.__setattr__(self, "study_name", self.task)
        if self.artifacts is None:
            object.__setattr__(self, "artifacts", str(default_artifacts_dir(self.storage_url)))

    def _check_backbones(self) -> None:
        object.__setattr__(self, "backbones", tuple(dict.fromkeys(self.backbones)))
        if not self.backbones:
            raise AutoMLError("--backbones needs at least one of scratch, " + ", ".join(BACKBONES))
        pretrained = [get_backbone(name) for name in self.backbones if name != SCRATCH]
        if self.backbone_resolution is not None:
            for backbone in pretrained:
                low, high = backbone.min_resolution, 2 * backbone.native_resolution
                if not low <= self.backbone_resolution <= high:
                    raise AutoMLError(
                        f"--backbone-resolution must be between {low} and {high} for "
                        f"{backbone.name}, got {self.backbone_resolution}"
                    )

    def check_weights(self) -> None:
        """Every pretrained backbone's weights are where they should be and pass their hash
        (reading them takes a fraction of a second: bad ones are refused before the search)."""
        for name in self.backbones:
            if name != SCRATCH:
                get_backbone(name).verified_state(self.weights_dir)

    @property
    def trial_limit(self) -> int | None:
        if self.trials is not None:
            return self.trials
        return None if self.budgeted else DEFAULT_TRIALS

    @property
    def budgeted(self) -> bool:
        """A time limit makes it a timed search: screening, then a final run (see _budget.py)."""
        return self.timeout_s is not None

    @property
    def pruner_name(self) -> str:
        """``auto``: successive halving over the screening rungs of a timed search, Hyperband
        over epochs for a trial-count search."""
        if self.pruner != "auto":
            return self.pruner
        return "sha" if self.budgeted else "hyperband"

    @property
    def work_dir(self) -> Path:
        """This machine's folder for what never leaves it (worker logs, the image cache):
        the artifacts folder, or the default one when models go to a bucket."""
        assert self.artifacts is not None
        if is_remote(self.artifacts):
            return default_artifacts_dir(self.storage_url)
        return Path(self.artifacts)

    @property
    def name(self) -> str:
        assert self.study_name is not None
        return self.study_name

    def open_task(self, progress: bool = False) -> Task:
        return open_study_task(self.task, self.to_json(), progress=progress)

    def to_json(self) -> dict[str, Any]:
        """The settings worth recording with the study (no secrets in the storage URL)."""
        data = asdict(self)
        data.pop("storage_url")
        data["data_dir"] = str(self.data_dir) if self.data_dir else None
        data["weights_dir"] = str(self.weights_dir) if self.weights_dir else None
        data["artifacts_dir"] = str(self.work_dir)  # the image cache's folder (its parent)
        return data


def study_artifact_store(settings: dict[str, Any]) -> ArtifactStore:
    """Where a study's models go, as its recorded settings say."""
    return open_artifact_store(
        settings.get("artifacts") or settings.get("artifacts_dir") or "artifacts"
    )


def study_data_dir(settings: dict[str, Any], data_dir: Path | None = None) -> Path | None:
    """Where a study's data lives: ``data_dir`` when given, else the folder it recorded."""
    return data_dir or (Path(settings["data_dir"]) if settings.get("data_dir") else None)


def study_cache_dir(settings: dict[str, Any]) -> Path:
    """This machine's folder for a study's decoded images and what is derived from them
    (``image-cache`` beside its models)."""
    return Path(settings.get("artifacts_dir") or "artifacts").parent / "image-cache"


def open_study_task(
    task: str, settings: dict[str, Any], data_dir: Path | None = None, progress: bool = False
) -> Task:
    """The task a study searches, prepared as its recorded settings say (``data_dir``
    overrides where its data lives). Your own images are decoded once into ``image-cache``
    beside the models."""
    from automl.data import Overrides, open_task

    folder = study_data_dir(settings, data_dir)
    return open_task(
        task,
        folder,
        settings.get("images"),
        study_cache_dir(settings),
        settings.get("validation_fraction", 0.1),
        settings.get("seed", 42),
        progress,
        settings.get("class_names"),
        Overrides.from_json(settings.get("overrides")),
    )
