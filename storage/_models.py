"""SQLAlchemy 2.0 typed tables. All prefixed ``automl_``: Optuna owns the unprefixed ones.

Trials link to Optuna by (study name, trial number), never by foreign keys into its tables.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[datetime]):
    """Every datetime is stored and returned as aware UTC (SQLite would drop the tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class StudyRow(Base):
    __tablename__ = "automl_studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    task: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16), default="maximize")
    search_space_version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    trials: Mapped[list[TrialRow]] = relationship(back_populates="study")


class TrialRow(Base):
    __tablename__ = "automl_trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number", name="uq_automl_trials_study_number"),
        Index("ix_automl_trials_study_updated", "study_id", "updated_at"),
        # On PostgreSQL (study_id, value DESC NULLS LAST, number): see migration 0005.
        Index("ix_automl_trials_study_value", "study_id", "value"),
        # Covers the analysis charts' reads: see migration 0006.
        Index(
            "ix_automl_trials_study_points", "study_id", "number", "state", "value", "param_count"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("automl_studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    param_count: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    epochs_run: Mapped[int] = mapped_column(Integer, default=0)
    pruned_at_epoch: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_s: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    test_accuracy: Mapped[float | None] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)
    #: "search" (a trial-count search), "screening" or "final" (a timed search's two phases).
    phase: Mapped[str] = mapped_column(String(16), default="search", server_default="search")
    #: The largest fraction of the training split the trial trained on, and images trained.
    data_fraction: Mapped[float | None] = mapped_column(Float)
    images_seen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Set on every insert and update: live views read rows newer than what they showed.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    study: Mapped[StudyRow] = relationship(back_populates="trials")


class EpochRow(Base):
    __tablename__ = "automl_epochs"
    __table_args__ = (UniqueConstraint("trial_id", "epoch", name="uq_automl_epochs_trial_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("automl_trials.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_accuracy: Mapped[float | None] = mapped_column(Float)
    learning_rate: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    data_fraction: Mapped[float | None] = mapped_column(Float)
    images_seen: Mapped[int | None] = mapped_column(Integer)  # by the trial, this epoch included
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArtifactRow(Base):
    __tablename__ = "automl_artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("automl_trials.id", ondelete="CASCADE"), unique=True
    )
    #: An absolute path or ``s3://bucket/key`` (the column kept its first name, ``path``).
    location: Mapped[str] = mapped_column("path", Text)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvaluationRow(Base):
    __tablename__ = "automl_evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("automl_trials.id", ondelete="CASCADE"), unique=True
    )
    accuracy: Mapped[float] = mapped_column(Float)
    macro_f1: Mapped[float] = mapped_column(Float)
    per_class: Mapped[dict] = mapped_column(JSON)
    confusion: Mapped[list] = mapped_column(JSON)
    latency_ms_batch1: Mapped[float | None] = mapped_column(Float)
    throughput_batch256: Mapped[float | None] = mapped_column(Float)
    cv_folds: Mapped[int | None] = mapped_column(Integer)
    cv_mean: Mapped[float | None] = mapped_column(Float)
    cv_std: Mapped[float | None] = mapped_column(Float)
    cv_scores: Mapped[list | None] = mapped_column(JSON)
    #: Counts of top-1 probabilities on the test split in CONFIDENCE_BINS: monitoring's reference.
    confidence_histogram: Mapped[list | None] = mapped_column(JSON)
    #: The hash of the overrides the test split was read with (None: the data as it is).
    overrides_sha256: Mapped[str | None] = mapped_column(String(64))
    #: A uint8 array (``.npy``) whose rows from ``images_first_row`` on are the test images,
    #: in order: the galleries' thumbnails.
    images_file: Mapped[str | None] = mapped_column(Text)
    images_first_row: Mapped[int | None] = mapped_column(Integer)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChampionRow(Base):
    """At most one champion per study: the primary key *is* the study."""

    __tablename__ = "automl_champions"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("automl_studies.id", ondelete="CASCADE"), primary_key=True
    )
    trial_id: Mapped[int] = mapped_column(ForeignKey("automl_trials.id", ondelete="CASCADE"))
    promoted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PromotionRow(Base):
    __tablename__ = "automl_promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("automl_studies.id", ondelete="CASCADE"), index=True
    )
    trial_id: Mapped[int] = mapped_column(ForeignKey("automl_trials.id", ondelete="CASCADE"))
    previous_trial_id: Mapped[int | None] = mapped_column(
        ForeignKey("automl_trials.id", ondelete="SET NULL")
    )
    promoted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class ExportRow(Base):
    """Every verified export: which trial, which format, where, and the file's sha256."""

    __tablename__ = "automl_exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("automl_trials.id", ondelete="CASCADE"), index=True
    )
    format: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    exported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PredictionRow(Base):
    """One answer of ``automl serve`` (one image or tensor), or one refused request. The
    served model may be a file without a study in this store: names, not foreign keys."""

    __tablename__ = "automl_predictions"
    __table_args__ = (Index("ix_automl_predictions_model_time", "model_name", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_name: Mapped[str] = mapped_column(String(128))
    study_name: Mapped[str | None] = mapped_column(String(128))
    trial_number: Mapped[int | None] = mapped_column(Integer)
    model_sha256: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    label: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ParamValueRow(Base):
    """Each distinct value a study's trials gave a parameter that is not a real number, in the
    text form the filters compare (``_queries.param_text``). Kept as trials record their
    parameters, so the trials page lists a parameter's values by an index range instead of a
    scan of every trial (migration 0007)."""

    __tablename__ = "automl_param_values"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("automl_studies.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)


class ParamRangeRow(Base):
    """The smallest and largest value of each numeric parameter of a study, kept likewise."""

    __tablename__ = "automl_param_ranges"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("automl_studies.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)


class TestPredictionRow(Base):
    """A trial's answer for one test image, kept with its evaluation: the galleries of a
    confusion-matrix cell and of the most confidently wrong images read these."""

    __tablename__ = "automl_test_predictions"
    __table_args__ = (
        Index(
            "ix_automl_test_predictions_cell", "evaluation_id", "label", "predicted", "confidence"
        ),
    )

    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("automl_evaluations.id", ondelete="CASCADE"), primary_key=True
    )
    row: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    label: Mapped[int] = mapped_column(Integer)
    predicted: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)


class DataReportRow(Base):
    """The latest ``automl inspect`` of a study's data: its summary (counts, leakage, methods)
    and where the images it names are stored (the uint8 array thumbnails come from)."""

    __tablename__ = "automl_data_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("automl_studies.id", ondelete="CASCADE"), unique=True
    )
    images: Mapped[int] = mapped_column(Integer)
    overrides_sha256: Mapped[str | None] = mapped_column(String(64))
    images_file: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DataFindingRow(Base):
    """One finding of a data report: a duplicate pair, a likely label error, an outlier;
    ranked within its kind (most important first), read a page at a time."""

    __tablename__ = "automl_data_findings"
    __table_args__ = (Index("ix_automl_data_findings_rank", "report_id", "kind", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("automl_data_reports.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer)
    paths: Mapped[list] = mapped_column(JSON)
    splits: Mapped[list] = mapped_column(JSON)
    rows: Mapped[list] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(Text)
    suggested: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)


class DataOverrideRow(Base):
    """A decision on one image of a study's data (exclude, relabel, keep), made in the
    dashboard; exported as the overrides CSV the next search takes."""

    __tablename__ = "automl_data_overrides"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("automl_studies.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
