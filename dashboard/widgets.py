"""Small UI pieces shared by the pages."""

from __future__ import annotations

import streamlit as st

from dashboard import data

REFRESH_S = 5


def choose_study(label: str = "Study") -> str:
    """A study picker remembered across pages; stops the page when the store has none."""
    data.store()
    names = data.study_names(data.storage_url())
    if not names:
        st.info(
            "**No studies yet.** Start one with `make search TASK=digits`; it appears here "
            "as soon as its first trial is recorded."
        )
        st.stop()
    current = st.session_state.get("study")
    index = names.index(current) if current in names else len(names) - 1
    study = st.sidebar.selectbox(label, names, index=index, key="study_picker")
    st.session_state["study"] = study
    return study


def fmt_pct(value: float | None) -> str:
    return f"{100 * value:.2f}%" if value is not None else "—"
