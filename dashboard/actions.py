"""What the dashboard's buttons do: the automl engine, loaded lazily. No Streamlit here."""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dashboard.views import param_cell
from storage import PromotionRecord, TrialRecord, TrialStore


@dataclass(frozen=True)
class ExportedFile:
    file_name: str
    data: bytes
    mime: str
    sha256: str
    summary: str
    card_markdown: str


def promote(store: TrialStore, study: str, number: int, note: str | None) -> PromotionRecord:
    from automl.release import promote_trial

    promotion, _ = promote_trial(store, study, number, note or None)
    return promotion


def decide(
    store: TrialStore,
    study: str,
    path: str,
    action: str,
    label: str | None,
    classes: Sequence[str],
    author: str | None,
) -> None:
    """Record a decision on one image of the study's data (``clear``: forget it). A relabel
    names one of the study's classes: the CSV it ends in must pass ``automl search``'s check."""
    if action == "clear":
        store.clear_data_override(study, path)
        return
    if action == "relabel" and label not in classes:
        raise ValueError(f"no class {label!r} in this study")
    store.set_data_override(study, path, action, label, author)


def evaluate(store: TrialStore, study: str, number: int) -> None:
    from automl.release import evaluate_trial

    evaluate_trial(store, study, number)


def export(store: TrialStore, study: str, number: int, fmt: str) -> ExportedFile:
    """Run the verified export into a scratch folder and hand back the bytes to download."""
    from automl.release import SUFFIXES, card_paths, export_model

    with tempfile.TemporaryDirectory(prefix="automl-dashboard-") as scratch:
        name = (
            f"{study}-trial{number}{SUFFIXES[fmt]}"
            if fmt != "savedmodel"
            else f"{study}-trial{number}"
        )
        download = f"{name}.zip" if fmt == "savedmodel" else name
        result = export_model(
            store, study, fmt, Path(scratch) / name, number=number,
            record_as=f"dashboard download {download}",
        )  # fmt: skip
        card = card_paths(result.path)[1].read_text()
        if result.path.is_dir():  # a SavedModel is a folder: ship it zipped, card included
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for file in sorted(result.path.rglob("*")):
                    archive.write(file, Path(name) / file.relative_to(result.path))
                for extra in card_paths(result.path):
                    archive.write(extra, extra.name)
            data, file_name, mime = buffer.getvalue(), f"{name}.zip", "application/zip"
        else:
            data, file_name, mime = result.path.read_bytes(), name, "application/octet-stream"
        shutil.rmtree(scratch, ignore_errors=True)
    summary = (
        f"Verified on {result.verified_images} test images: top-1 agreement {result.top1_agreement:.2%}, "
        f"max probability difference {result.max_abs_diff:.1e}."
    )
    return ExportedFile(file_name, data, mime, result.sha256, summary, card)


#: fANOVA one-hot encodes categories: hundreds of them (every per-block filter list seen)
#: take minutes to fit and say little, so such a parameter is left out.
MAX_CATEGORIES = 24


def importances(trials: Sequence[TrialRecord]) -> dict[str, float]:
    """fANOVA importances (Optuna's evaluator) over these completed trials, read from the
    trial store: a sample on a big study, where loading every trial from Optuna's tables
    would take minutes. Each parameter's range is the one the trials span (log-scaled when
    it spans two decades); a list parameter such as per-block filters is one category, and
    is left out past MAX_CATEGORIES combinations."""
    import warnings

    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows = [
        ({k: param_cell(v) for k, v in t.params.items() if v is not None}, t.value)
        for t in trials
        if t.value is not None
    ]
    values: dict[str, list] = {}
    for params, _ in rows:
        for name, value in params.items():
            values.setdefault(name, []).append(value)
    distributions: dict[str, BaseDistribution] = {}
    for name, seen in values.items():
        kinds = {type(v) for v in seen}
        if kinds <= {int} and min(seen) < max(seen):
            distributions[name] = IntDistribution(min(seen), max(seen))
        elif kinds <= {int, float} and min(seen) < max(seen):
            low, high = float(min(seen)), float(max(seen))
            distributions[name] = FloatDistribution(low, high, log=low > 0 and high / low >= 100)
        elif 1 < len(set(seen)) <= MAX_CATEGORIES:
            distributions[name] = CategoricalDistribution(sorted(set(seen), key=str))
    study = optuna.create_study(direction="maximize")
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={k: v for k, v in params.items() if k in distributions},
                distributions={k: d for k, d in distributions.items() if k in params},
                value=value,
            )
            for params, value in rows
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optuna.importance.get_param_importances(
            study,
            # Optuna's default forest (64 trees, depth 64) takes 4.9 s on 500 trials here;
            # 8 x 8 takes 0.25 s and gave the same ranking and shares (BENCHMARKS.md).
            evaluator=optuna.importance.FanovaImportanceEvaluator(n_trees=8, max_depth=8, seed=0),
        )


@dataclass(frozen=True)
class ExplainedImage:
    image: np.ndarray  # uint8, as stored
    overlay: np.ndarray  # the saliency map over it
    probabilities: list[float]
    target: int
    method: str


def explain(
    store: TrialStore, study: str, number: int, images_file: str, row: int
) -> ExplainedImage:
    """A saliency map and the class probabilities of one test image (``row`` of the images
    file) by the trial's saved model."""
    from automl.release import explain_trial, overlay

    image = np.asarray(np.load(images_file, mmap_mode="r", allow_pickle=False)[row])
    found = explain_trial(store, study, number, image)
    return ExplainedImage(
        _enlarged(image),
        _enlarged(overlay(image, found.heatmap)),
        [float(p) for p in found.probabilities],
        found.target,
        found.method,
    )


def _enlarged(image: np.ndarray, side: int = 224) -> np.ndarray:
    """Pixels kept sharp (nearest neighbour) at about ``side`` on screen; greyscale as 2-D."""
    from PIL import Image

    pixels = image[..., 0] if image.shape[-1] == 1 else image
    scale = max(1, side // max(pixels.shape[:2]))
    size = (pixels.shape[1] * scale, pixels.shape[0] * scale)
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.NEAREST))
