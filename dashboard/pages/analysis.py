"""Why the search went where it went: history, importances, parallel coordinates, size front."""

import streamlit as st

from dashboard import data, views
from dashboard.widgets import choose_study

st.title("Analysis")
study = choose_study()
url = data.storage_url()
records = data.trial_records(url, study)
completed = [t for t in records if t.state.value == "COMPLETE" and t.value is not None]
if not completed:
    st.info(f"Study **{study}** has no completed trial yet: nothing to analyse.")
    st.stop()

st.plotly_chart(views.history_figure(records), width="stretch")
left, right = st.columns(2)
with left:
    if len(completed) >= 3:
        try:
            st.plotly_chart(views.importance_figure(data.importances(url, study)), width="stretch")
        except Exception as exc:  # fANOVA needs variety among the completed trials
            st.info(f"Parameter importance is not available yet: {exc}")
    else:
        st.info("Parameter importance needs at least three completed trials.")
with right:
    st.plotly_chart(views.pareto_figure(records), width="stretch")
    front = views.pareto_front(records)
    if front:
        best = max(completed, key=lambda t: t.value)
        smallest_close = next((t for t in front if t.value >= best.value - 0.01), best)
        st.caption(
            f"Trial {smallest_close.number} is within one point of the best "
            f"({100 * smallest_close.value:.2f}% vs {100 * best.value:.2f}%) with "
            f"{smallest_close.param_count:,} weights instead of {best.param_count:,}."
        )
st.plotly_chart(views.parallel_figure(data.trials_frame(url, study)), width="stretch")
