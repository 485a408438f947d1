"""The cached edge between pages and the store: short TTLs, so live searches show up."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from dashboard import views
from storage import (
    DEFAULT_STORAGE_URL,
    EvaluationRecord,
    PredictionRecord,
    PromotionRecord,
    StorageError,
    TrialRecord,
    TrialStore,
)

LIVE_TTL_S = 3
SLOW_TTL_S = 30


def storage_url() -> str:
    return os.environ.get("AUTOML_STORAGE") or DEFAULT_STORAGE_URL


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
def trial_records(url: str, study: str) -> list[TrialRecord]:
    return _store(url).trials(study)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def trials_frame(url: str, study: str) -> pd.DataFrame:
    store = _store(url)
    return views.trials_frame(store.trials(study), store.evaluated_trials(study))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def epochs_frame(url: str, study: str, numbers: tuple[int, ...]) -> pd.DataFrame:
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


@st.cache_data(ttl=SLOW_TTL_S, show_spinner=False)
def importances(url: str, study: str) -> dict[str, float]:
    from dashboard import actions

    return actions.importances(url, study)


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
