"""``automl inspect``: what is wrong with a study's data. Duplicates within and across splits
(and what they do to the test score), likely label errors, odd images, class counts, skipped
files; one JSON report, the same findings stored with the study for the dashboard."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl._errors import AutoMLError
from automl.data import DataSplits, ImageFolderTask, Overrides, Task, write_uint8_images
from automl.quality._duplicates import NEAR_BITS, NEAR_PIXELS, DuplicateGroups, find_duplicates
from automl.quality._labels import rank_label_issues
from automl.quality._outliers import (
    BLANK_STD,
    OUTLIER_Z,
    class_counts,
    find_outliers,
    imbalance,
)
from automl.quality._view import SPLIT_NAMES, InspectedData
from storage import DataFinding, StudyRecord, TrialRecord, TrialStore

Log = Callable[[str], None]
#: Bump when the report's fields change meaning (readers check it).
REPORT_VERSION = 1
DEFAULT_FOLDS = 5
DEFAULT_TIMEOUT_S = 300.0
#: The fold models' ranking is called reliable when their held-out accuracy covers at least
#: this share of the way from always answering the largest class to perfect.
RELIABLE_SHARE = 0.5


@dataclass(frozen=True)
class Inspection:
    """The report (JSON-able, as ``--report`` writes it) and the same findings as records."""

    report: dict[str, Any]
    findings: list[DataFinding]
    images_file: str | None

    def summary(self) -> dict[str, Any]:
        """The report less its finding lists (stored with the study beside the findings)."""
        lists = ("duplicates", "label_issues", "outliers")
        return {key: value for key, value in self.report.items() if key not in lists}


# ------------------------------------------------------------------------- the data
def _images_file(task: Task, view: InspectedData, folder: Path, name: str) -> str:
    """A uint8 ``.npy`` whose row r is the view's row r: a folder's own cache when its order is
    the view's, else one written here, a batch at a time."""
    if isinstance(task, ImageFolderTask):
        cached = task.dataset.folder / "images.npy"
        if len(task.dataset.labels) == view.count:
            return str(cached)
    shape = (view.count, *view.data.input_shape)
    return str(write_uint8_images(folder / f"inspect-{name}.npy", shape, view.batches()))


def _skipped(task: Task) -> list[dict[str, str]]:
    if not isinstance(task, ImageFolderTask):
        return []
    root = task.source if task.source.is_dir() else task.source.parent
    out = []
    for path, why in task.dataset.skipped_files():
        try:
            shown = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).as_posix()
        except ValueError:
            shown = path
        out.append({"path": shown, "why": why})
    return out


# ------------------------------------------------------------------------ findings
def _duplicate_findings(view: InspectedData, found: DuplicateGroups) -> list[DataFinding]:
    """Groups across splits first (they leak), then within; exact before near."""

    def finding(kind: str, rows: list[int], distance: float) -> DataFinding:
        return DataFinding(
            kind,
            [str(view.ids[r]) for r in rows],
            [SPLIT_NAMES[view.splits[r]] for r in rows],
            [int(r) for r in rows],
            distance,
        )

    exact = [finding("exact", [int(r) for r in g], 0.0) for g in found.exact]
    near = [finding("near", [i, j], d) for i, j, d in found.near]
    crossing = lambda f: len(set(f.splits)) == 1  # noqa: E731 - False (0) sorts first
    return sorted(exact, key=crossing) + sorted(near, key=crossing)


def _leaked_test_rows(view: InspectedData, duplicates: list[DataFinding]) -> dict[str, set[int]]:
    """Test rows with a copy in train or validation, by kind of copy."""
    leaked: dict[str, set[int]] = {"exact": set(), "near": set()}
    for finding in duplicates:
        if "test" in finding.splits and set(finding.splits) - {"test"}:
            leaked[finding.kind].update(
                r for r, s in zip(finding.rows, finding.splits) if s == "test"
            )
    leaked["near"] -= leaked["exact"]
    return leaked


# ------------------------------------------------------------------------- models
def _scoring_trial(store: TrialStore, study: str) -> TrialRecord | None:
    """The champion, else the best trial with a saved model: what the test score is."""
    return store.champion(study) or store.best_trial(study, with_artifact=True)


def _test_probabilities(store: TrialStore, study: str, trial: TrialRecord, data: DataSplits):
    import keras

    from automl.data import evaluation_dataset
    from automl.search import verified_artifact

    _, model_file = verified_artifact(store, study, trial.number)
    model = keras.models.load_model(model_file)
    probabilities = model.predict(
        evaluation_dataset(data.x_test, scale=data.pixel_scale), verbose=0
    )
    keras.backend.clear_session()
    return probabilities


# ------------------------------------------------------------------------ inspect
def inspect_data(
    task: Task,
    data: DataSplits,
    *,
    work_dir: Path,
    name: str,
    store: TrialStore | None = None,
    study: StudyRecord | None = None,
    overrides: Overrides | None = None,
    folds: int = DEFAULT_FOLDS,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    label_issues: bool = True,
    log: Log = print,
) -> Inspection:
    """Every finding on ``data`` (``task``'s splits). With a searched ``study`` in ``store``:
    label errors from K-fold training of its champion's configuration, and the champion's test
    score with and without the test images copied from training."""
    if folds < 2:
        raise AutoMLError(f"--folds must be at least 2, got {folds}")
    view = InspectedData(data)
    started = time.monotonic()
    log(f"inspecting {view.count} images ({data.describe()})")

    found = find_duplicates(view)
    duplicates = _duplicate_findings(view, found)
    leaked = _leaked_test_rows(view, duplicates)
    cross = sum(len(set(f.splits)) > 1 for f in duplicates)
    log(
        f"duplicates: {len(found.exact)} groups of exact copies, {len(found.near)} near pairs "
        f"({cross} across splits; {len(leaked['exact']) + len(leaked['near'])} test images "
        f"have a copy in train or validation) in {time.monotonic() - started:.0f} s"
    )

    step = time.monotonic()
    outliers = find_outliers(view)
    outlier_findings = [
        DataFinding(
            "outlier",
            [str(view.ids[o.row])],
            [SPLIT_NAMES[view.splits[o.row]]],
            [o.row],
            o.score,
            label=view.class_names[view.labels[o.row]],
            detail=o.why,
        )
        for o in outliers
    ]
    log(f"odd images: {len(outliers)} in {time.monotonic() - step:.0f} s")

    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "study": study.name if study else None,
        "task": task.name,
        "source": data.source,
        "overrides": overrides.sha256 if overrides else None,
        "images": view.count,
        "classes": class_counts(view),
        "imbalance": imbalance(view),
        "skipped": _skipped(task),
        "methods": {
            "exact": "identical pixels after the study's preprocessing (BLAKE2 digest)",
            "near": (
                f"imagehash phash within {NEAR_BITS} of 64 bits, confirmed by standardised "
                f"16x16 greyscale signatures within {NEAR_PIXELS} (root-mean-square)"
            ),
            "label_issues": "cleanlab find_label_issues (self-confidence ranking) on "
            "out-of-fold probabilities",
            "outliers": f"blank (pixel deviation < {BLANK_STD}), brightness or distance to the "
            f"class's mean 8x8 thumbnail beyond {OUTLIER_Z} robust z",
        },
    }
    label_findings: list[DataFinding] = []
    scoring = _scoring_trial(store, study.name) if store and study else None
    leakage: dict[str, Any] = {
        "test_images": int((view.splits == 2).sum()),
        "with_exact_copy_in_train": len(leaked["exact"]),
        "with_near_copy_in_train": len(leaked["near"]),
    }
    if scoring is not None:
        test_probabilities = _test_probabilities(store, study.name, scoring, data)  # type: ignore[arg-type, union-attr]
        correct = test_probabilities.argmax(axis=1) == data.y_test
        first_test = view.count - len(data.y_test)
        copied = np.array(sorted(leaked["exact"] | leaked["near"]), dtype=np.int64) - first_test
        clean = np.ones(len(correct), dtype=bool)
        clean[copied] = False
        leakage.update(
            trial=scoring.number,
            test_accuracy=float(correct.mean()),
            test_accuracy_without_copies=float(correct[clean].mean()) if clean.any() else None,
        )
        log(
            f"trial {scoring.number}'s test accuracy {correct.mean():.4f}; without the "
            f"{len(copied)} test images copied from training "
            f"{correct[clean].mean() if clean.any() else float('nan'):.4f}"
        )
        if label_issues:
            label_findings, report["label_model"] = _label_findings(
                view,
                data,
                store,
                study,
                scoring,
                test_probabilities,
                folds,
                timeout_s,
                log,  # type: ignore[arg-type]
            )
    elif label_issues:
        log("label errors: skipped (no searched model yet: run automl search, then inspect)")
    report["leakage"] = leakage
    report["counts"] = {
        "exact": len(found.exact),
        "near": len(found.near),
        "label": len(label_findings),
        "outlier": len(outlier_findings),
    }
    # Duplicates across splits are listed first of their kind: these say how many.
    report["across_splits"] = {
        kind: sum(f.kind == kind and len(set(f.splits)) > 1 for f in duplicates)
        for kind in ("exact", "near")
    }
    report["duplicates"] = [
        {"kind": f.kind, "paths": f.paths, "splits": f.splits, "distance": round(f.score, 4)}
        for f in duplicates
    ]
    report["label_issues"] = [
        {
            "path": f.paths[0],
            "split": f.splits[0],
            "label": f.label,
            "suggested": f.suggested,
            "score": round(f.score, 4),
        }
        for f in label_findings
    ]
    report["outliers"] = [
        {"path": f.paths[0], "split": f.splits[0], "label": f.label, "why": f.detail}
        for f in outlier_findings
    ]
    report["seconds"] = round(time.monotonic() - started, 1)
    images_file = _images_file(task, view, work_dir, name)
    return Inspection(report, duplicates + label_findings + outlier_findings, images_file)


def _label_findings(
    view: InspectedData,
    data: DataSplits,
    store: TrialStore,
    study: StudyRecord,
    trial: TrialRecord,
    test_probabilities: np.ndarray,
    folds: int,
    timeout_s: float | None,
    log: Log,
) -> tuple[list[DataFinding], dict[str, Any]]:
    """K-fold out-of-fold probabilities for train and validation (the trial's configuration
    retrained K times, within ``timeout_s``), the trial's own for test; ranked by cleanlab."""
    from automl.release import out_of_fold
    from automl.search import ModelParams

    if not trial.params or trial.best_epoch is None:
        log(f"label errors: skipped (trial {trial.number} has no configuration to retrain)")
        return [], {}
    epochs = max(1, trial.best_epoch)
    deadline = time.time() + timeout_s if timeout_s else None
    budget = f" within {timeout_s:.0f} s" if timeout_s else ""
    log(
        f"label errors: training trial {trial.number}'s configuration {folds} times "
        f"(up to {epochs} epochs each{budget})"
    )
    result = out_of_fold(
        data,
        ModelParams.from_dict(trial.params),
        epochs,
        folds,
        study.config.get("seed", 42),
        deadline=deadline,
        log=log,
    )
    probabilities = np.concatenate([result.probabilities, test_probabilities])
    issues = rank_label_issues(view.labels, probabilities)
    names = view.class_names
    findings = [
        DataFinding(
            "label",
            [str(view.ids[i.row])],
            [SPLIT_NAMES[view.splits[i.row]]],
            [i.row],
            i.score,
            label=names[i.label],
            suggested=names[i.suggested],
        )
        for i in issues
    ]
    chance = float(np.bincount(view.labels).max() / view.count)
    reliable = float(np.mean(result.scores)) >= chance + RELIABLE_SHARE * (1 - chance)
    log(f"label errors: {len(findings)} likely mislabeled images")
    if not reliable:
        log(
            f"warning: the fold models are weak (held-out accuracy {np.mean(result.scores):.2f}; "
            f"the largest class alone is {chance:.2f}): their ranking of label errors means "
            "little. A longer search, or --timeout for the folds, gives better ones"
        )
    model = {
        "reliable": reliable,
        "trial": trial.number,
        "folds": folds,
        "fold_accuracy": [round(s, 4) for s in result.scores],
        "fold_epochs": result.epochs,
        "test": f"trial {trial.number}'s own predictions (it never trained on test)",
    }
    return findings, model


__all__ = ["DEFAULT_FOLDS", "DEFAULT_TIMEOUT_S", "REPORT_VERSION", "Inspection", "inspect_data"]
