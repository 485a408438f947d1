"""The trial store: project tables next to Optuna's, behind one repository API.

Imports neither TensorFlow nor Optuna.
"""

from storage._errors import StorageError
from storage._records import (
    CONFIDENCE_BINS,
    ArtifactRecord,
    EpochRecord,
    EvaluationRecord,
    ExportRecord,
    PredictionRecord,
    PromotionRecord,
    StudyRecord,
    StudyStamp,
    StudySummary,
    TrialFilter,
    TrialPage,
    TrialPoint,
    TrialPoints,
    TrialRecord,
    TrialState,
)
from storage._session import engine_kwargs, lost_connection_reason
from storage._store import DEFAULT_STORAGE_URL, TrialStore

__all__ = [
    "CONFIDENCE_BINS",
    "DEFAULT_STORAGE_URL",
    "ArtifactRecord",
    "EpochRecord",
    "EvaluationRecord",
    "ExportRecord",
    "PredictionRecord",
    "PromotionRecord",
    "StorageError",
    "StudyRecord",
    "StudyStamp",
    "StudySummary",
    "TrialFilter",
    "TrialPage",
    "TrialPoint",
    "TrialPoints",
    "TrialRecord",
    "TrialState",
    "TrialStore",
    "engine_kwargs",
    "lost_connection_reason",
]
