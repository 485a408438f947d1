"""Overlaid learning curves and parameters side by side: reads only the trials shown."""

import streamlit as st

from dashboard import data, views
from dashboard.widgets import REFRESH_S, choose_study

st.title("Compare trials")
study = choose_study()
url = data.storage_url()
stamp = data.study_stamp(url, study)
if stamp.n_trials == 0:
    st.info(f"Study **{study}** has no trials yet.")
    st.stop()

carried = st.session_state.get("compare", [])
default = [t.number for t in data.trials_by_numbers(url, study, tuple(carried), stamp)]
if not default:
    best = data.top_trials(url, study, data.COMPLETED, "value", 3, stamp)
    default = [t.number for t in best] or data.picker_trials(url, study, stamp, ())[-1:]
picked = st.multiselect(
    "Trials",
    data.picker_trials(url, study, stamp, default),
    default=default,
    key="compare_picker",
    accept_new_options=True,
    help="On a big study the best 200 and the latest 20 are listed: type any other number.",
)
chosen, typed_wrong = views.trial_numbers(picked)
known = data.trials_by_numbers(url, study, tuple(chosen), stamp)
missing = sorted(set(chosen) - {t.number for t in known})
if typed_wrong or missing:
    st.warning(f"Not a trial of **{study}**: {', '.join(map(str, [*typed_wrong, *missing]))}.")
chosen = [t.number for t in known]
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
    live_stamp = data.study_stamp(url, study)  # the only read while nothing changes
    live = data.trials_by_numbers(url, study, tuple(chosen), live_stamp)
    epochs = data.epochs_frame(url, study, tuple(chosen), live_stamp)
    if epochs.empty:
        st.info("No epoch has finished yet for these trials.")
    else:
        st.plotly_chart(views.curves_figure(epochs, live, metric, x_axis), width="stretch")
    st.caption("✕ marks the epoch where a pruned or failed trial stopped.")


curves()
st.subheader("Parameters")
table = views.params_comparison(known)
differing = set(views.differing_rows(table))
st.caption(f"{len(differing)} parameters differ (highlighted, listed first).")
st.dataframe(
    table.style.apply(
        lambda row: ["background-color: #fff3cd" if row.name in differing else ""] * len(row),
        axis=1,
    ),
    width="stretch",
)
