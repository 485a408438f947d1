"""Overlaid learning curves and parameters side by side."""

import streamlit as st

from dashboard import data, views
from dashboard.widgets import REFRESH_S, choose_study

st.title("Compare trials")
study = choose_study()
url = data.storage_url()
records = data.trial_records(url, study)
numbers = [t.number for t in records]
if not numbers:
    st.info(f"Study **{study}** has no trials yet.")
    st.stop()

default = [n for n in st.session_state.get("compare", []) if n in numbers]
if not default:
    ranked = sorted((t for t in records if t.value is not None), key=lambda t: -t.value)
    default = [t.number for t in ranked[:3]] or numbers[:1]
chosen = st.multiselect("Trials", numbers, default=default, key="compare_picker")
metric = st.radio(
    "Metric", list(views.METRICS), format_func=views.METRICS.get, horizontal=True, key="metric"
)
x_axis = st.radio(
    "Against",
    list(views.X_AXES),
    format_func=views.X_AXES.get,
    horizontal=True,
    key="x_axis",
    help="Screening trains on fractions of the data: images seen compares the work done.",
)
if not chosen:
    st.info("Pick one or more trials above (or select rows on the **Trials** page).")
    st.stop()


@st.fragment(run_every=REFRESH_S)
def curves() -> None:
    live = [t for t in data.trial_records(url, study) if t.number in chosen]
    epochs = data.epochs_frame(url, study, tuple(sorted(chosen)))
    if epochs.empty:
        st.info("No epoch has finished yet for these trials.")
    else:
        st.plotly_chart(views.curves_figure(epochs, live, metric, x_axis), width="stretch")
    st.caption("✕ marks the epoch where a pruned or failed trial stopped.")


curves()
st.subheader("Parameters")
selected = [t for t in records if t.number in chosen]
table = views.params_comparison(selected)
differing = set(views.differing_rows(table))
st.caption(f"{len(differing)} parameters differ (highlighted, listed first).")
st.dataframe(
    table.style.apply(
        lambda row: ["background-color: #fff3cd" if row.name in differing else ""] * len(row),
        axis=1,
    ),
    width="stretch",
)
