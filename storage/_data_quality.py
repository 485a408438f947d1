"""The trial store's data-quality tables: ``automl inspect``'s report and findings per study,
the decisions users make on images (the overrides the next search takes), and a trial's
answer for each test image (the galleries of its mistakes)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select

from storage._errors import StorageError
from storage._mapping import (
    data_finding,
    data_override_record,
    data_report_record,
    test_prediction,
)
from storage._models import (
    DataFindingRow,
    DataOverrideRow,
    DataReportRow,
    EvaluationRow,
    TestPredictionRow,
    utcnow,
)
from storage._queries import study_row, trial_row
from storage._records import (
    FINDING_KINDS,
    DataFinding,
    DataOverrideRecord,
    DataReportRecord,
    TestPrediction,
)
from storage._session import retrying

#: What a dashboard decision may be (``automl.data.ACTIONS``; storage imports no automl).
OVERRIDE_ACTIONS = ("exclude", "relabel", "keep")


@retrying
class DataQualityStore:
    """Mixed into ``TrialStore``: one repository, its data-quality methods kept here."""

    def _scope(self):  # pragma: no cover - TrialStore's
        raise NotImplementedError

    def save_test_predictions(
        self,
        study_name: str,
        number: int,
        predictions: Sequence[TestPrediction],
        images_file: str | None = None,
        images_first_row: int = 0,
    ) -> None:
        """Replace the answers kept with a trial's evaluation (one per test image), and where
        the test images are for thumbnails."""
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            evaluation = session.scalar(
                select(EvaluationRow).where(EvaluationRow.trial_id == trial.id)
            )
            if evaluation is None:
                raise StorageError(f"trial {number} has no test evaluation yet")
            session.execute(
                delete(TestPredictionRow).where(TestPredictionRow.evaluation_id == evaluation.id)
            )
            evaluation.images_file, evaluation.images_first_row = images_file, images_first_row
            rows = [
                {
                    "evaluation_id": evaluation.id,
                    "row": int(p.row),
                    "path": p.path,
                    "label": int(p.label),
                    "predicted": int(p.predicted),
                    "confidence": float(p.confidence),
                }
                for p in predictions
            ]
            if rows:
                session.execute(insert(TestPredictionRow), rows)

    def test_predictions(
        self,
        study_name: str,
        number: int,
        *,
        label: int | None = None,
        predicted: int | None = None,
        wrong: bool = False,
        offset: int = 0,
        limit: int = 24,
    ) -> list[TestPrediction]:
        """A trial's answers on test images, most confident first: one confusion-matrix cell
        (``label`` and ``predicted``), or a class's mistakes (``label``, ``wrong``)."""
        with self._scope() as session:
            trial = trial_row(session, study_name, number)
            query = (
                select(TestPredictionRow)
                .join(EvaluationRow, EvaluationRow.id == TestPredictionRow.evaluation_id)
                .where(EvaluationRow.trial_id == trial.id)
            )
            if label is not None:
                query = query.where(TestPredictionRow.label == label)
            if predicted is not None:
                query = query.where(TestPredictionRow.predicted == predicted)
            if wrong:
                query = query.where(TestPredictionRow.predicted != TestPredictionRow.label)
            rows = session.scalars(
                query.order_by(TestPredictionRow.confidence.desc(), TestPredictionRow.row)
                .offset(max(0, offset))
                .limit(max(0, limit))
            ).all()
            return [test_prediction(row) for row in rows]

    def save_data_report(
        self,
        study_name: str,
        *,
        images: int,
        summary: dict,
        findings: Sequence[DataFinding],
        overrides_sha256: str | None = None,
        images_file: str | None = None,
    ) -> DataReportRecord:
        """Replace the study's data report and its findings (ranked in the order given, per
        kind) in one transaction: a reader sees the old report or the new one, whole."""
        unknown = {f.kind for f in findings} - set(FINDING_KINDS)
        if unknown:
            raise StorageError(f"unknown finding kinds {sorted(unknown)}")
        with self._scope() as session:
            study = study_row(session, study_name)
            old = session.scalar(select(DataReportRow).where(DataReportRow.study_id == study.id))
            if old is not None:
                session.execute(delete(DataFindingRow).where(DataFindingRow.report_id == old.id))
                session.delete(old)
                session.flush()
            row = DataReportRow(
                study_id=study.id,
                images=int(images),
                overrides_sha256=overrides_sha256,
                images_file=images_file,
                summary=summary,
                created_at=utcnow(),
            )
            session.add(row)
            session.flush()
            ranks = dict.fromkeys(FINDING_KINDS, 0)
            values = []
            for finding in findings:
                values.append(
                    {
                        "report_id": row.id,
                        "kind": finding.kind,
                        "rank": ranks[finding.kind],
                        "paths": list(finding.paths),
                        "splits": list(finding.splits),
                        "rows": [int(r) for r in finding.rows],
                        "score": float(finding.score),
                        "label": finding.label,
                        "suggested": finding.suggested,
                        "detail": finding.detail,
                    }
                )
                ranks[finding.kind] += 1
            if values:
                session.execute(insert(DataFindingRow), values)
            return data_report_record(row, study_name)

    def data_report(self, study_name: str) -> DataReportRecord | None:
        with self._scope() as session:
            study = study_row(session, study_name)
            row = session.scalar(select(DataReportRow).where(DataReportRow.study_id == study.id))
            return data_report_record(row, study_name) if row else None

    def data_findings(
        self, study_name: str, kind: str, offset: int = 0, limit: int = 50
    ) -> list[DataFinding]:
        """A page of the study's findings of one kind, most important first."""
        with self._scope() as session:
            study = study_row(session, study_name)
            rows = session.scalars(
                select(DataFindingRow)
                .join(DataReportRow, DataReportRow.id == DataFindingRow.report_id)
                .where(DataReportRow.study_id == study.id, DataFindingRow.kind == kind)
                .order_by(DataFindingRow.rank)
                .offset(max(0, offset))
                .limit(max(0, limit))
            ).all()
            return [data_finding(row) for row in rows]

    def data_finding_counts(self, study_name: str) -> dict[str, int]:
        with self._scope() as session:
            study = study_row(session, study_name)
            counts = dict(
                session.execute(
                    select(DataFindingRow.kind, func.count())
                    .join(DataReportRow, DataReportRow.id == DataFindingRow.report_id)
                    .where(DataReportRow.study_id == study.id)
                    .group_by(DataFindingRow.kind)
                ).all()
            )
            return {kind: int(counts.get(kind, 0)) for kind in FINDING_KINDS}

    def set_data_override(
        self,
        study_name: str,
        path: str,
        action: str,
        label: str | None = None,
        author: str | None = None,
    ) -> DataOverrideRecord:
        """Record (or replace) the decision on one image of the study's data."""
        if action not in OVERRIDE_ACTIONS:
            raise StorageError(f"unknown override action {action!r}")
        if action == "relabel" and not label:
            raise StorageError("relabel needs a label")
        with self._scope() as session:
            study = study_row(session, study_name)
            row = session.get(DataOverrideRow, (study.id, path))
            if row is None:
                row = DataOverrideRow(study_id=study.id, path=path)
                session.add(row)
            row.action, row.label = action, label if action == "relabel" else None
            row.author, row.decided_at = author, utcnow()
            session.flush()
            return data_override_record(row)

    def clear_data_override(self, study_name: str, path: str) -> None:
        with self._scope() as session:
            study = study_row(session, study_name)
            session.execute(
                delete(DataOverrideRow).where(
                    DataOverrideRow.study_id == study.id, DataOverrideRow.path == path
                )
            )

    def data_overrides(self, study_name: str) -> list[DataOverrideRecord]:
        """The study's decisions, by path."""
        with self._scope() as session:
            study = study_row(session, study_name)
            rows = session.scalars(
                select(DataOverrideRow)
                .where(DataOverrideRow.study_id == study.id)
                .order_by(DataOverrideRow.path)
            ).all()
            return [data_override_record(row) for row in rows]


__all__ = ["OVERRIDE_ACTIONS", "DataQualityStore"]
