"""The trials of one study: filter, sort, and pick rows to compare."""

import streamlit as st

from dashboard import data, views
from dashboard.widgets import REFRESH_S, choose_study

st.title("Trials")
study = choose_study()
url = data.storage_url()
frame = data.trials_frame(url, study)
if frame.empty or "Epochs" not in frame:
    st.info(f"Study **{study}** has no trials yet.")
    st.stop()

with st.sidebar:
    st.subheader("Filters")
    states = st.multiselect(
        "State",
        ["COMPLETE", "PRUNED", "FAIL", "RUNNING"],
        default=["COMPLETE", "PRUNED", "FAIL", "RUNNING"],
    )
    value_range = st.slider("Val accuracy", 0.0, 1.0, (0.0, 1.0), step=0.01)
    params = [c.removeprefix("param: ") for c in views.param_columns(frame)]
    param = st.selectbox("Parameter", ["(any)", *params])
    chosen_values = None
    if param != "(any)":
        column = f"param: {param}"
        options = sorted(frame[column].dropna().astype(str).unique())
        picked = st.multiselect(f"{param} is one of", options, default=options)
        chosen_values = [v for v in frame[column].dropna().unique() if str(v) in picked]


@st.fragment(run_every=REFRESH_S)
def trials_table() -> None:
    live = data.trials_frame(url, study)
    shown = views.filter_trials(
        live,
        states=states,
        value_range=value_range,
        param=f"param: {param}" if param != "(any)" else None,
        param_values=chosen_values,
    )
    st.caption(f"{len(shown)} of {len(live)} trials. Select rows to carry them to **Compare**.")
    event = st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key="trials_table",
        column_config={
            "Val accuracy": st.column_config.NumberColumn(format="percent"),
            "Test accuracy": st.column_config.NumberColumn(format="percent"),
            "Parameters": st.column_config.NumberColumn(format="localized"),
        },
    )
    selected = [int(shown.iloc[i]["Trial"]) for i in event.selection.rows]
    if selected:
        st.session_state["compare"] = selected
        st.success(
            f"Selected trials {', '.join(map(str, selected))}: open **Compare** to see them."
        )


trials_table()
