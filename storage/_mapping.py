"""Rows to records: what the store hands out is plain dataclasses, never live ORM rows."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from storage._models import (
    DataFindingRow,
    DataOverrideRow,
    DataReportRow,
    EpochRow,
    EvaluationRow,
    PredictionRow,
    StudyRow,
    TestPredictionRow,
    TrialRow,
)
from storage._records import (
    DataFinding,
    DataOverrideRecord,
    DataReportRecord,
    EpochRecord,
    EvaluationRecord,
    PredictionRecord,
    StudyRecord,
    TestPrediction,
    TrialRecord,
    TrialState,
)


def study_record(row: StudyRow) -> StudyRecord:
    return StudyRecord(
        id=row.id,
        name=row.name,
        task=row.task,
        direction=row.direction,
        search_space_version=row.search_space_version,
        created_at=row.created_at,
        config=dict(row.config or {}),
    )


def trial_record(row: TrialRow, study_name: str) -> TrialRecord:
    return TrialRecord(
        id=row.id,
        study_name=study_name,
        number=row.number,
        state=TrialState(row.state),
        params=dict(row.params or {}),
        param_count=row.param_count,
        value=row.value,
        best_epoch=row.best_epoch,
        epochs_run=row.epochs_run,
        pruned_at_epoch=row.pruned_at_epoch,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_s=row.duration_s,
        reason=row.reason,
        test_accuracy=row.test_accuracy,
        test_loss=row.test_loss,
        phase=row.phase,
        data_fraction=row.data_fraction,
        images_seen=row.images_seen,
    )


def epoch_record(row: EpochRow, number: int) -> EpochRecord:
    return EpochRecord(
        trial_number=number,
        epoch=row.epoch,
        loss=row.loss,
        accuracy=row.accuracy,
        val_loss=row.val_loss,
        val_accuracy=row.val_accuracy,
        learning_rate=row.learning_rate,
        seconds=row.seconds,
        data_fraction=row.data_fraction,
        images_seen=row.images_seen,
    )


def prediction_record(row: PredictionRow) -> PredictionRecord:
    return PredictionRecord(
        **{f.name: getattr(row, f.name) for f in dataclasses.fields(PredictionRecord)}
    )


def evaluation_record(row: EvaluationRow, number: int) -> EvaluationRecord:
    per_class = row.per_class
    return EvaluationRecord(
        trial_number=number,
        accuracy=row.accuracy,
        macro_f1=row.macro_f1,
        class_names=list(per_class["class_names"]),
        precision=list(per_class["precision"]),
        recall=list(per_class["recall"]),
        f1=list(per_class["f1"]),
        support=list(per_class["support"]),
        confusion=[list(r) for r in row.confusion],
        latency_ms_batch1=row.latency_ms_batch1,
        throughput_batch256=row.throughput_batch256,
        cv_folds=row.cv_folds,
        cv_mean=row.cv_mean,
        cv_std=row.cv_std,
        cv_scores=list(row.cv_scores) if row.cv_scores is not None else None,
        evaluated_at=row.evaluated_at,
        confidence_histogram=(
            [int(c) for c in row.confidence_histogram] if row.confidence_histogram else None
        ),
        overrides_sha256=row.overrides_sha256,
        images_file=row.images_file,
        images_first_row=row.images_first_row,
    )


def finite(value: float | None) -> float | None:
    """NaN/inf are not portable across databases: store them as NULL."""
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def as_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


def data_report_record(row: DataReportRow, study_name: str) -> DataReportRecord:
    return DataReportRecord(
        study_name=study_name,
        images=row.images,
        overrides_sha256=row.overrides_sha256,
        images_file=row.images_file,
        summary=dict(row.summary or {}),
        created_at=row.created_at,
    )


def data_finding(row: DataFindingRow) -> DataFinding:
    return DataFinding(
        kind=row.kind,
        paths=list(row.paths),
        splits=list(row.splits),
        rows=list(row.rows),
        score=row.score,
        label=row.label,
        suggested=row.suggested,
        detail=row.detail,
    )


def data_override_record(row: DataOverrideRow) -> DataOverrideRecord:
    return DataOverrideRecord(row.path, row.action, row.label, row.author, row.decided_at)


def test_prediction(row: TestPredictionRow) -> TestPrediction:
    return TestPrediction(row.row, row.path, row.label, row.predicted, row.confidence)


__all__ = [
    "as_utc",
    "data_finding",
    "data_override_record",
    "data_report_record",
    "epoch_record",
    "evaluation_record",
    "finite",
    "prediction_record",
    "study_record",
    "test_prediction",
    "trial_record",
]
