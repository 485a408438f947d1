"""Where ``automl inspect`` finds its data and leaves its findings: a study's data read as its
search read it (or a task's, before any search), the report file, the study's store."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl._errors import AutoMLError
from automl.data import Overrides
from automl.quality._inspect import DEFAULT_FOLDS, DEFAULT_TIMEOUT_S, Inspection, inspect_data
from automl.search import SearchConfig, open_study_task, study_cache_dir, study_data_dir
from storage import TrialStore


@dataclass(frozen=True)
class InspectRequest:
    """What to inspect. With ``study`` in the store: its data (its task, folder, image options
    and fixes, unless ``overrides`` replaces them), its models, and the findings are stored with
    it. Without one: ``task`` / ``data_dir`` read as a search with default options would read
    them; only the report file is written."""

    storage_url: str
    study: str | None = None
    task: str | None = None
    data_dir: Path | None = None
    images: dict[str, Any] | None = None
    overrides: Overrides | None = None
    folds: int = DEFAULT_FOLDS
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    label_issues: bool = True
    report: Path | None = None
    #: Where to write ``suggested_overrides`` as a CSV.
    suggest: Path | None = None


def _settings(request: InspectRequest) -> tuple[str, dict[str, Any]]:
    """A study-less inspection's task and settings: those a search with the same flags records."""
    from automl.data import IMAGES_TASK

    task = request.task or (IMAGES_TASK if request.data_dir else None)
    if task is None:
        raise AutoMLError("inspect needs --study, --task or --data-dir")
    config = SearchConfig(
        task=task,
        data_dir=request.data_dir,
        images=request.images if task == IMAGES_TASK else None,
        storage_url=request.storage_url,
        study_name=request.study,
        overrides=request.overrides.to_json() if request.overrides else None,
    )
    return task, config.to_json()


def run_inspection(request: InspectRequest, log=print) -> Inspection:
    """Inspect, write the report, store the findings; bad input is an AutoMLError (one line)."""
    for flag, path in (("--report", request.report), ("--suggest", request.suggest)):
        if path is not None and Path(path).expanduser().is_dir():
            raise AutoMLError(f"{flag} {path} is a folder; name a file")
    known = request.study is not None and TrialStore.holds_study(request.storage_url, request.study)
    store = TrialStore(request.storage_url, create=False) if known else None
    study = store.get_study(request.study) if store else None  # type: ignore[arg-type]
    if study is not None:
        settings = dict(study.config)
        task_name = study.task
        if request.overrides is not None:
            settings["overrides"] = request.overrides.to_json()
    else:
        if request.study is not None and not (request.task or request.data_dir):
            raise AutoMLError(
                f"no study {request.study!r} in {request.storage_url}: name its data with "
                "--task or --data-dir"
            )
        task_name, settings = _settings(request)
    overrides = Overrides.from_json(settings.get("overrides"))
    folder = study_data_dir(settings, request.data_dir)
    task = open_study_task(task_name, settings, folder, progress=True)
    data = task.load(folder, settings.get("validation_fraction", 0.1), settings.get("seed", 42))
    name = (study.name if study else request.study) or task_name
    work_dir = study_cache_dir(settings)
    inspection = inspect_data(
        task,
        data,
        work_dir=work_dir,
        name=name,
        store=store,
        study=study,
        overrides=overrides,
        folds=request.folds,
        timeout_s=request.timeout_s,
        label_issues=request.label_issues,
        log=log,
    )
    if request.report is not None:
        _write_json(request.report, inspection.report)
        log(f"report: {request.report}")
    if request.suggest is not None:
        suggested = suggested_overrides(inspection.report, str(request.suggest))
        _write_text(request.suggest, suggested.to_csv())
        log(
            f"suggested fixes: {request.suggest} ({len(suggested.rows)} rows: test and "
            f"validation copies of training images excluded, label errors scored >= "
            f"{RELABEL_SCORE} relabeled); pass it to automl search --overrides"
        )
    if store is not None and study is not None:
        store.save_data_report(
            study.name,
            images=inspection.report["images"],
            summary=inspection.summary(),
            findings=inspection.findings,
            overrides_sha256=overrides.sha256 if overrides else None,
            images_file=inspection.images_file,
        )
        log(f"stored with study {study.name!r}: the dashboard's Data page shows it")
    else:
        log("not stored: no study to store it with (run automl search, then inspect --study)")
    return inspection


#: ``--suggest``: relabel an image when cleanlab's score is at least this. On 3,400
#: Fashion-MNIST training images with 68 planted flips, 55 scored >= 0.99, 73 % of them flips
#: (0.95: 138, 37 %): the rest are for a person to look at (the Data page).
RELABEL_SCORE = 0.99


def suggested_overrides(report: dict[str, Any], source: str = "") -> Overrides:
    """The fixes inspect is sure enough of: every validation or test image with a copy in
    train (so the test score stops counting it), and a relabel of each very likely label error
    in train or validation."""
    from automl.data import EXCLUDE, RELABEL, Override

    rows: dict[str, Override] = {}
    for duplicate in report["duplicates"]:
        if "train" in duplicate["splits"] and set(duplicate["splits"]) != {"train"}:
            for path, split in zip(duplicate["paths"], duplicate["splits"]):
                if split != "train":
                    rows[path] = Override(path, EXCLUDE)
    # Test labels are left to a person: relabeled by the model's own predictions, they would
    # lift its test score by agreeing with it.
    for issue in report["label_issues"]:
        if (
            issue["score"] >= RELABEL_SCORE
            and issue["split"] != "test"
            and issue["path"] not in rows
        ):
            rows[issue["path"]] = Override(issue["path"], RELABEL, issue["suggested"])
    return Overrides(tuple(sorted(rows.values(), key=lambda r: r.path)), source)


def _write_json(path: Path, report: dict[str, Any]) -> None:
    _write_text(path, json.dumps(report, indent=1) + "\n")


def _write_text(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a file."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def describe(inspection: Inspection) -> str:
    """The findings in a few lines, for the terminal."""
    report = inspection.report
    counts, leakage = report["counts"], report["leakage"]
    lines = [
        f"{report['images']} images, {len(report['classes'])} classes; "
        f"{len(report['skipped'])} files skipped",
        f"exact duplicate groups {counts['exact']}, near-duplicate pairs {counts['near']}; "
        f"test images with a copy in train or validation: "
        f"{leakage['with_exact_copy_in_train']} exact, {leakage['with_near_copy_in_train']} near",
    ]
    if "test_accuracy" in leakage:
        without = leakage["test_accuracy_without_copies"]
        lines.append(
            f"trial {leakage['trial']}: test accuracy {leakage['test_accuracy']:.4f}, "
            f"{'n/a' if without is None else f'{without:.4f}'} without those copies"
        )
    lines.append(f"likely label errors {counts['label']}, odd images {counts['outlier']}")
    for issue in report["label_issues"][:5]:
        lines.append(
            f"  {issue['path']} ({issue['split']}): labeled {issue['label']!r}, looks like "
            f"{issue['suggested']!r} (score {issue['score']:.2f})"
        )
    balance = report["imbalance"]
    lines.append(
        f"classes: largest {balance['largest']!r}, smallest {balance['smallest']!r} "
        f"({balance['ratio']:g}x)"
    )
    return "\n".join(lines)


__all__ = ["RELABEL_SCORE", "InspectRequest", "describe", "run_inspection", "suggested_overrides"]
