"""The trial store's prediction log: what ``automl serve`` answered (one row per answer or
refused request), read by the dashboard's Monitoring page and pruned past its retention."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from storage._mapping import prediction_record
from storage._models import PredictionRow
from storage._records import PREDICTION_FIELDS, PredictionRecord
from storage._session import retrying


@retrying
class PredictionLogStore:
    """Mixed into ``TrialStore``: one repository, its prediction-log methods kept here."""

    def _scope(self):  # pragma: no cover - TrialStore's
        raise NotImplementedError

    def record_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Append served answers in one transaction."""
        self._insert_predictions([vars(r) for r in records])

    def record_prediction_rows(self, rows: Sequence[tuple]) -> None:
        """Append served answers given as tuples of PREDICTION_FIELDS, in one transaction (the
        server's log writer batches them)."""
        self._insert_predictions([dict(zip(PREDICTION_FIELDS, row)) for row in rows])

    def _insert_predictions(self, values: list[dict[str, Any]]) -> None:
        if not values:
            return
        with self._scope() as session:  # one executemany on the table: no ORM step per row
            session.execute(insert(PredictionRow.__table__), values)

    def predictions(
        self, model_name: str, since: datetime, limit: int = 200_000
    ) -> list[PredictionRecord]:
        """A model's logged answers since ``since``, oldest first (at most the newest
        ``limit``)."""
        with self._scope() as session:
            rows = session.scalars(
                select(PredictionRow)
                .where(PredictionRow.model_name == model_name, PredictionRow.created_at >= since)
                .order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc())
                .limit(limit)
            ).all()
            return [prediction_record(row) for row in reversed(rows)]

    def prune_predictions(self, before: datetime) -> int:
        """Delete the answers logged before ``before``; returns how many were deleted."""
        with self._scope() as session:
            result = session.execute(delete(PredictionRow).where(PredictionRow.created_at < before))
            return int(result.rowcount or 0)

    def served_models(self) -> list[str]:
        """Names of the models that have logged answers, most recent first."""
        with self._scope() as session:
            rows = session.execute(
                select(PredictionRow.model_name, func.max(PredictionRow.created_at))
                .group_by(PredictionRow.model_name)
                .order_by(func.max(PredictionRow.created_at).desc())
            )
            return [name for name, _ in rows]


__all__ = ["PredictionLogStore"]
