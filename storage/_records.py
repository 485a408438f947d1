"""Frozen records handed out by the store: callers never see ORM rows."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple


class TrialState(str, enum.Enum):
    """Mirrors Optuna's states by name so the two stores read the same."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


@dataclass(frozen=True)
class StudyRecord:
    id: int
    name: str
    task: str
    direction: str
    search_space_version: int
    created_at: datetime
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySummary:
    """One row of the studies overview: counts and best value in one query."""

    study: StudyRecord
    counts: dict[TrialState, int]
    best_value: float | None
    best_trial_number: int | None
    last_activity: datetime | None
    champion_trial_number: int | None

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())

    @property
    def is_running(self) -> bool:
        return self.counts.get(TrialState.RUNNING, 0) > 0


@dataclass(frozen=True)
class TrialRecord:
    id: int
    study_name: str
    number: int
    state: TrialState
    params: dict[str, Any]
    param_count: int | None
    value: float | None
    best_epoch: int | None
    epochs_run: int
    pruned_at_epoch: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    reason: str | None
    test_accuracy: float | None
    test_loss: float | None
    phase: str = "search"
    data_fraction: float | None = None
    images_seen: int = 0


def fraction_text(fraction: float | None) -> str | None:
    """0.125 -> "1/8"; 1.0 -> "all": how much of the training split a trial used."""
    if fraction is None:
        return None
    return "all" if fraction >= 1.0 else f"1/{round(1 / fraction)}"


class TrialPoint(NamedTuple):
    """The few columns the analysis charts plot for every trial of a big study (a named
    tuple: immutable like the records, and ten times cheaper to build 50,000 of)."""

    number: int
    state: TrialState
    value: float | None
    param_count: int | None


@dataclass(frozen=True)
class TrialPoints:
    """What the analysis charts plot. ``points`` holds every trial of a small study; of a
    big one a spread sample, plus every trial a chart must show whatever the sample: the
    best-so-far steps, the best for their size and the best by value. The counts are the
    study's, for the charts' "n of N" notes."""

    points: tuple[TrialPoint, ...]
    finished: int  # have a value and are not running: the history's markers
    completed: int  # completed with a value
    sized: int  # completed with a value and a size: the size chart's markers


@dataclass(frozen=True)
class TrialFilter:
    """Which trials a table shows, applied in the database. ``None`` means no condition.

    Trials without a value (running, failed) pass a value range that starts at 0. A parameter
    is filtered either to a set of values (as the store returned them from ``param_values``)
    or to a numeric range.
    """

    states: tuple[str, ...] | None = None
    phases: tuple[str, ...] | None = None
    #: Trials that trained at least this many epochs (1: not those closed unscreened).
    min_epochs: int | None = None
    value_range: tuple[float, float] | None = None
    param: str | None = None
    param_values: tuple[Any, ...] | None = None
    param_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class TrialPage:
    """One page of a study's trials, in the order asked for, with the counts around it."""

    trials: list[TrialRecord]
    total: int  # trials that match the filter
    study_total: int  # trials in the study
    offset: int
    #: Trial number -> test accuracy of its evaluation, for the trials on this page.
    evaluated: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StudyStamp:
    """Changes whenever a trial of the study is added or changes: a cheap cache key."""

    n_trials: int
    updated_at: datetime | None


@dataclass(frozen=True)
class EpochRecord:
    trial_number: int
    epoch: int
    loss: float | None
    accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    learning_rate: float | None
    seconds: float
    data_fraction: float | None = None
    images_seen: int | None = None


@dataclass(frozen=True)
class ArtifactRecord:
    trial_number: int
    location: str  # an absolute path or s3://bucket/key
    size_bytes: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class EvaluationRecord:
    trial_number: int
    accuracy: float
    macro_f1: float
    class_names: list[str]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion: list[list[int]]
    latency_ms_batch1: float | None
    throughput_batch256: float | None
    cv_folds: int | None
    cv_mean: float | None
    cv_std: float | None
    cv_scores: list[float] | None
    evaluated_at: datetime
    #: Counts of top-1 probabilities on the test split per CONFIDENCE_BINS (None: evaluated
    #: before the prediction log existed).
    confidence_histogram: list[int] | None = None
    #: The hash of the overrides the test split was read with (None: the study's own data).
    overrides_sha256: str | None = None
    #: Where the test images are (a uint8 ``.npy``, from this row on): the galleries' pictures.
    images_file: str | None = None
    images_first_row: int | None = None


@dataclass(frozen=True)
class PromotionRecord:
    trial_number: int
    previous_trial_number: int | None
    promoted_at: datetime
    note: str | None


@dataclass(frozen=True)
class ExportRecord:
    trial_number: int
    format: str
    destination: str
    sha256: str
    size_bytes: int
    exported_at: datetime


#: Edges of the confidence histograms (top-1 probability), shared by evaluation and monitoring.
CONFIDENCE_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class PredictionRecord:
    """One logged answer (``label`` None: the request was refused, see ``status``)."""

    model_name: str
    model_sha256: str
    request_id: str
    endpoint: str
    status: int
    latency_ms: float
    created_at: datetime
    label: str | None = None
    confidence: float | None = None
    study_name: str | None = None
    trial_number: int | None = None


#: PredictionRecord's fields in order: an answer as a plain tuple of these is how the server
#: hands its log to the writer process (a tuple is built and pickled in a tenth of a record's
#: time, and a batch of 64 images is 64 answers).
PREDICTION_FIELDS = tuple(f.name for f in fields(PredictionRecord))


#: The kinds of data finding, in the order a report lists them.
FINDING_KINDS = ("exact", "near", "label", "outlier")


@dataclass(frozen=True)
class DataFinding:
    """One thing ``automl inspect`` found: a duplicate pair (``exact`` or ``near``), a likely
    label error (``label``), an odd image (``outlier``)."""

    kind: str
    #: The images, relative to the data folder (a built-in task's: ``<split>/<index>``).
    paths: list[str]
    splits: list[str]
    #: Their positions in the report's ``images_file``, for thumbnails.
    rows: list[int]
    #: Duplicates: the hashes' distance (0 for exact copies); label errors: how likely the
    #: label is wrong (1 - cleanlab's label quality); outliers: how far out.
    score: float
    #: Label errors: the given class and the one the models suggest.
    label: str | None = None
    suggested: str | None = None
    #: Outliers: what is odd.
    detail: str | None = None


@dataclass(frozen=True)
class DataReportRecord:
    study_name: str
    images: int
    #: The fixes the data was read with (None: the data as it is).
    overrides_sha256: str | None
    #: A uint8 array (``.npy``) holding every image the findings name, at ``rows``.
    images_file: str | None
    #: Counts per class and split, leakage, skipped files, methods and thresholds, findings
    #: per kind: the report file's fields other than the finding lists.
    summary: dict
    created_at: datetime


@dataclass(frozen=True)
class DataOverrideRecord:
    path: str
    action: str
    label: str | None
    author: str | None
    decided_at: datetime


@dataclass(frozen=True)
class TestPrediction:
    """A trial's answer for one test image (``row``: its place in the test split)."""

    __test__ = False  # not a pytest test class, whatever its name

    row: int
    path: str
    label: int
    predicted: int
    confidence: float
