"""A served model's traffic, latency, errors and drift against its test-split reference."""

from datetime import timedelta

import streamlit as st

from dashboard import data, views
from dashboard.widgets import fmt_pct

WINDOWS = {15: "15 minutes", 60: "1 hour", 360: "6 hours", 1440: "24 hours"}

st.title("Monitoring")
url = data.storage_url()
data.store()
models = data.served_models(url)
if not models:
    st.info(
        "**Nothing has been served yet.** Start a server with `make serve STUDY=<study>` "
        "(or `automl serve --study <study>`): every prediction it makes is logged here."
    )
    st.stop()
left, right = st.columns([3, 1])
name = left.selectbox("Served model", models)
minutes = right.selectbox("Window", list(WINDOWS), index=1, format_func=WINDOWS.get)
records = data.predictions(url, name, minutes)
last = records[-1] if records else None
reference = data.reference(url, last.study_name, last.trial_number) if last else None
view = views.monitoring(records, reference, timedelta(minutes=minutes))
if view is None:
    st.info(f"No requests to **{name}** in the last {WINDOWS[minutes]}.")
    st.stop()

drift = view.drift
if drift is not None and drift.alarm:
    st.error(
        f"**Drift:** the predicted classes of the last {drift.sample:,} predictions differ from "
        f"the test split's (Jensen-Shannon distance {drift.js_distance:.3f}, alarm above "
        f"{views.JS_ALARM}; PSI {drift.psi:.3f}, alarm above {views.PSI_ALARM}). "
        "The images being sent may no longer look like the training data.",
        icon=":material/warning:",
    )
elif drift is not None and drift.sample < views.MIN_DRIFT_SAMPLE:
    st.caption(
        f"Drift is judged on at least {views.MIN_DRIFT_SAMPLE} predictions; this window "
        f"has {drift.sample}."
    )
elif drift is None:
    st.caption("No test-split evaluation of this model in the store: nothing to compare with.")
st.caption(f"Answering: {view.served}")

cols = st.columns(4)
cols[0].metric("Requests", f"{view.requests:,}")
cols[1].metric("Error rate", fmt_pct(view.error_rate))
cols[2].metric("Latency p50", f"{view.latency_p50_ms:.1f} ms")
cols[3].metric("Latency p99", f"{view.latency_p99_ms:.1f} ms")
cols = st.columns(4)
cols[0].metric("Predictions", f"{view.predictions:,}")
cols[1].metric(f"Confidence < {views.LOW_CONFIDENCE:.0%}", fmt_pct(view.low_confidence_share))
cols[2].metric("Jensen-Shannon distance", f"{drift.js_distance:.3f}" if drift else "—")
cols[3].metric("PSI", f"{drift.psi:.3f}" if drift else "—")

st.plotly_chart(views.traffic_figure(view.per_minute), width="stretch")
left, right = st.columns(2)
left.plotly_chart(views.shares_figure(view.classes, "class", "Predicted classes"), width="stretch")
right.plotly_chart(
    views.shares_figure(view.confidence, "confidence", "Top-1 confidence"), width="stretch"
)
