"""The cached edge between pages and the store: short TTLs, so live searches show up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from dashboard import views
from storage import (
    ArtifactRecord,
    DataFinding,
    DataOverrideRecord,
    DataReportRecord,
    EvaluationRecord,
    PredictionRecord,
    PromotionRecord,
    StorageError,
    StudyStamp,
    TestPrediction,
    TrialFilter,
    TrialPage,
    TrialPoints,
    TrialRecord,
    TrialStore,
    default_storage_url,
)

COMPLETED = TrialFilter(states=("COMPLETE",))
LIVE_TTL_S = 3
SLOW_TTL_S = 30
#: Reads keyed by the study's stamp stay valid until the study changes (a new stamp, a new key).
STAMPED_TTL_S = 600


#: The store's URL, as every command reads it ($AUTOML_STORAGE, else the default).
storage_url = default_storage_url


@st.cache_resource(ttl=60, show_spinner=False)
def _store(url: str) -> TrialStore:
    return TrialStore(url, create=False)


def store() -> TrialStore:
    """The shared store; a missing or unreachable database shows a message and stops the page."""
    try:
        return _store(storage_url())
    except StorageError as exc:
        st.info(
            f"**No trial store to show.** {exc}.\n\nRun `make search TASK=digits` first, "
            "or start the dashboard with `STORAGE=...` pointing at your database."
        )
        st.stop()
        raise  # st.stop() raises; this keeps type checkers satisfied


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def studies_frame(url: str) -> pd.DataFrame:
    return views.studies_frame(_store(url).list_studies())


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def study_names(url: str) -> list[str]:
    return _store(url).study_names()


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def study_stamp(url: str, study: str) -> StudyStamp:
    """The one read a live view makes every few seconds: the rest is keyed by it."""
    return _store(url).study_stamp(study)


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=256, show_spinner=False)
def trial_page(
    url: str,
    study: str,
    where: TrialFilter,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
    stamp: StudyStamp,
) -> TrialPage:
    return _store(url).trial_page(
        study, where, sort=sort, descending=descending, offset=offset, limit=limit
    )


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=64, show_spinner=False)
def top_trials(
    url: str, study: str, where: TrialFilter | None, sort: str, limit: int, stamp: StudyStamp
) -> list[TrialRecord]:
    """The first trials in that order (descending), best or latest: no counting."""
    return _store(url).top_trials(study, where, sort=sort, limit=limit)


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=256, show_spinner=False)
def trials_by_numbers(
    url: str, study: str, numbers: tuple[int, ...], stamp: StudyStamp
) -> list[TrialRecord]:
    return _store(url).trials_by_numbers(study, numbers)


@st.cache_resource(ttl=STAMPED_TTL_S, max_entries=8, show_spinner=False)
def trial_points(url: str, study: str, stamp: StudyStamp) -> TrialPoints:
    """What the analysis charts draw: on a big study a sample chosen in the database that
    keeps the charts' lines exact and the best trials for ``views.analysis_sample``. Shared,
    not copied per reader as cache_data would: the points are immutable."""
    return _store(url).trial_points(
        study, limit=views.MAX_POINTS, keep_best=views.ANALYSIS_SAMPLE // 4
    )


@st.cache_data(ttl=SLOW_TTL_S, show_spinner=False)
def param_names(url: str, study: str) -> list[str]:
    return _store(url).param_names(study)


@st.cache_data(ttl=SLOW_TTL_S, show_spinner=False)
def param_choices(
    url: str, study: str, name: str
) -> tuple[list[tuple[object, str]] | None, tuple[float, float] | None]:
    """A parameter's values to pick from, or its range: always for real numbers, and for
    anything else with too many values (each as the store hands it back: see TrialFilter)."""
    store = _store(url)
    values = None if store.param_kind(study, name) is float else store.param_values(study, name)
    return values, (store.param_bounds(study, name) if values is None else None)


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=256, show_spinner=False)
def epochs_frame(url: str, study: str, numbers: tuple[int, ...], stamp: StudyStamp) -> pd.DataFrame:
    return views.epochs_frame(_store(url).epochs(study, list(numbers)))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def evaluation(url: str, study: str, number: int) -> EvaluationRecord | None:
    return _store(url).evaluation(study, number)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def champion(url: str, study: str) -> TrialRecord | None:
    return _store(url).champion(study)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def promotions(url: str, study: str) -> list[PromotionRecord]:
    return _store(url).promotions(study)


@st.cache_data(ttl=3600, max_entries=16, show_spinner=False)
def importances(url: str, study: str, sample: tuple[int, ...]) -> dict[str, float]:
    """fANOVA over these completed trials (``views.analysis_sample``): seconds on a big
    study, so cached until the sample changes; a finished trial's values never do."""
    from dashboard import actions

    return actions.importances(_store(url).trials_by_numbers(study, sample))


#: Studies up to this size list every trial in the pickers, as before; bigger ones the best
#: and the latest (any other can be typed in).
PICK_ALL = 500


def picker_trials(url: str, study: str, stamp: StudyStamp, keep: Iterable[int]) -> list[int]:
    """Trial numbers a picker offers: every one on a small study; on a big one the 200
    best, the 20 latest and ``keep``."""
    if stamp.n_trials <= PICK_ALL:
        every = top_trials(url, study, None, "number", PICK_ALL, stamp)
        return sorted({*keep, *(t.number for t in every)})
    best = top_trials(url, study, COMPLETED, "value", 200, stamp)
    latest = top_trials(url, study, None, "number", 20, stamp)
    return sorted({*keep, *(t.number for t in best), *(t.number for t in latest)})


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=16, show_spinner=False)
def artifact(url: str, study: str, number: int, stamp: StudyStamp) -> ArtifactRecord | None:
    return _store(url).artifact(study, number)


def clear_resources() -> None:
    """Forget the shared store and points (the benchmark's cold start)."""
    _store.clear()
    trial_points.clear()


def refresh() -> None:
    """After a write (promote, evaluate): drop cached reads so every view shows it at once."""
    st.cache_data.clear()


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def served_models(url: str) -> list[str]:
    return _store(url).served_models()


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def predictions(url: str, model_name: str, minutes: int) -> list[PredictionRecord]:
    since = datetime.now(timezone.utc) - timedelta(minutes=minutes)
    return _store(url).predictions(model_name, since)


@st.cache_data(ttl=SLOW_TTL_S, show_spinner=False)
def reference(url: str, study: str | None, number: int | None) -> EvaluationRecord | None:
    """The served model's evaluation on the test split (None: a file from elsewhere)."""
    if study is None or number is None:
        return None
    try:
        return _store(url).evaluation(study, number)
    except StorageError:  # its study is not in this store
        return None


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def data_report(url: str, study: str) -> DataReportRecord | None:
    return _store(url).data_report(study)


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=256, show_spinner=False)
def data_findings(
    url: str, study: str, kind: str, offset: int, limit: int, inspected: datetime
) -> list[DataFinding]:
    """A page of findings of one kind; ``inspected`` (the report's time) keys the cache, so a
    new inspection is read afresh."""
    return _store(url).data_findings(study, kind, offset, limit)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def data_overrides(url: str, study: str) -> list[DataOverrideRecord]:
    return _store(url).data_overrides(study)


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=512, show_spinner=False)
def thumbnails(images_file: str | None, rows: tuple[int, ...]) -> list:
    return views.thumbnails(images_file, list(rows))


#: Images a gallery of test predictions shows.
GALLERY = 24


@st.cache_data(ttl=STAMPED_TTL_S, max_entries=256, show_spinner=False)
def test_predictions(
    url: str, study: str, number: int, label: int, predicted: int | None, evaluated: datetime
) -> list[TestPrediction]:
    """A cell's images (``predicted`` given) or a class's mistakes, most confident first; keyed
    by the evaluation's time, so a new evaluation is read afresh."""
    return _store(url).test_predictions(
        study, number, label=label, predicted=predicted, wrong=predicted is None, limit=GALLERY
    )
