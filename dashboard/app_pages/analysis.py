"""Why the search went where it went: history, importances, parallel coordinates, size front.

Big studies: the charts draw about 5,000 trials the database picks (every best-so-far step and
the whole size front among them) and fit importance on 500 completed trials (each chart says
when it samples)."""

import streamlit as st

from dashboard import data, views
from dashboard.widgets import choose_study

st.title("Analysis")
study = choose_study()
url = data.storage_url()
stamp = data.study_stamp(url, study)
drawn = data.trial_points(url, study, stamp)
points = drawn.points
completed = [t for t in points if t.state.value == "COMPLETE" and t.value is not None]
if not completed:
    st.info(f"Study **{study}** has no completed trial yet: nothing to analyse.")
    st.stop()
sample = tuple(views.analysis_sample(points))

st.plotly_chart(views.history_figure(points, of=drawn.finished), width="stretch")
left, right = st.columns(2)
with right:
    st.plotly_chart(views.pareto_figure(points, of=drawn.sized), width="stretch")
    front = views.pareto_front(points)
    if front:
        best = max(completed, key=lambda t: t.value)
        smallest_close = next((t for t in front if t.value >= best.value - 0.01), best)
        st.caption(
            f"Trial {smallest_close.number} is within one point of the best "
            f"({100 * smallest_close.value:.2f}% vs {100 * best.value:.2f}%) with "
            f"{smallest_close.param_count:,} weights instead of {best.param_count:,}."
        )
sampled = views.trials_frame(data.trials_by_numbers(url, study, sample, stamp), {})
st.plotly_chart(views.parallel_figure(sampled, of_completed=drawn.completed), width="stretch")
with left:  # last: the slowest chart fills in once the others are on screen
    if drawn.completed >= 3:
        try:
            with st.spinner("Fitting parameter importance…"):
                importance = data.importances(url, study, sample)
            st.plotly_chart(views.importance_figure(importance), width="stretch")
            if len(sample) < drawn.completed:
                st.caption(
                    f"Fitted on {len(sample):,} of {drawn.completed:,} completed trials: the "
                    f"best {views.ANALYSIS_SAMPLE // 4:,} and a random sample of the rest."
                )
        except Exception as exc:  # fANOVA needs variety among the completed trials
            st.info(f"Parameter importance is not available yet: {exc}")
    else:
        st.info("Parameter importance needs at least three completed trials.")
