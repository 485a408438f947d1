"""What the dashboard's buttons do: the automl engine, loaded lazily. No Streamlit here."""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from storage import PromotionRecord, TrialStore


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
        f"Verified on 256 test images: top-1 agreement {result.top1_agreement:.2%}, "
        f"max probability difference {result.max_abs_diff:.1e}."
    )
    return ExportedFile(file_name, data, mime, result.sha256, summary, card)


def importances(storage_url: str, study: str) -> dict[str, float]:
    """fANOVA importances from Optuna (the study's own storage), completed trials only."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    loaded = optuna.load_study(study_name=study, storage=storage_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optuna.importance.get_param_importances(loaded)
