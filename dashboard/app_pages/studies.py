"""Every study at a glance; refreshes itself while searches run."""

import streamlit as st

from dashboard import data
from dashboard.widgets import REFRESH_S

st.title("Studies")
st.caption("Each study is one search. This view refreshes itself every few seconds.")
data.store()


@st.fragment(run_every=REFRESH_S)
def studies_table() -> None:
    frame = data.studies_frame(data.storage_url())
    if frame.empty or "Task" not in frame:
        st.info("**No studies yet.** Start one with `make search TASK=digits`.")
        return
    running = int((frame["Status"] == "running").sum())
    left, middle, right = st.columns(3)
    left.metric("Studies", len(frame))
    middle.metric("Trials", int(frame["Trials"].sum()))
    right.metric("Searches running", running)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "Best val accuracy": st.column_config.NumberColumn(format="percent"),
            "Last activity (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        },
    )
    failed_only = frame[(frame["Trials"] > 0) & (frame["Trials"] == frame["Failed"])]
    for name in failed_only["Study"]:
        st.warning(f"Every trial of **{name}** failed: open *Trials* to read the reasons.")


studies_table()
