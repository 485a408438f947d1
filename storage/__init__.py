"""The trial store: project tables next to Optuna's, behind one repository API.

Imports neither TensorFlow nor Optuna.
"""

from storage._data_quality import OVERRIDE_ACTIONS
from storage._errors import StorageError
from storage._log_writer import serve_log_writes
from storage._queries import SORT_KEYS
from storage._records import (
    CONFIDENCE_BINS,
    FINDING_KINDS,
    PREDICTION_FIELDS,
    ArtifactRecord,
    DataFinding,
    DataOverrideRecord,
    DataReportRecord,
    EpochRecord,
    EvaluationRecord,
    ExportRecord,
    PredictionRecord,
    PromotionRecord,
    StudyRecord,
    StudyStamp,
    StudySummary,
    TestPrediction,
    TrialFilter,
    TrialPage,
    TrialPoint,
    TrialPoints,
    TrialRecord,
    TrialState,
    fraction_text,
)
from storage._session import (
    DEFAULT_STORAGE_URL,
    default_storage_url,
    engine_kwargs,
    lost_connection_reason,
)
from storage._store import TrialStore

__all__ = [
    "CONFIDENCE_BINS",
    "DEFAULT_STORAGE_URL",
    "FINDING_KINDS",
    "OVERRIDE_ACTIONS",
    "PREDICTION_FIELDS",
    "SORT_KEYS",
    "ArtifactRecord",
    "DataFinding",
    "DataOverrideRecord",
    "DataReportRecord",
    "EpochRecord",
    "EvaluationRecord",
    "ExportRecord",
    "PredictionRecord",
    "PromotionRecord",
    "StorageError",
    "StudyRecord",
    "StudyStamp",
    "StudySummary",
    "TestPrediction",
    "TrialFilter",
    "TrialPage",
    "TrialPoint",
    "TrialPoints",
    "TrialRecord",
    "TrialState",
    "TrialStore",
    "default_storage_url",
    "engine_kwargs",
    "fraction_text",
    "lost_connection_reason",
    "serve_log_writes",
]
