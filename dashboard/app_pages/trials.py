"""The trials of one study, a page at a time: filtered and sorted in the database, with
rows picked for Compare kept across pages."""

import streamlit as st

from dashboard import data, views
from dashboard.widgets import REFRESH_S, choose_study

PAGE_SIZES = (25, 50, 100, 200)

st.title("Trials")
study = choose_study()
url = data.storage_url()
if data.study_stamp(url, study).n_trials == 0:
    st.info(f"Study **{study}** has no trials yet.")
    st.stop()

with st.sidebar:
    st.subheader("Filters")
    states = st.multiselect("State", views.STATES, default=views.STATES, key="filter_states")
    phases = st.multiselect("Phase", views.PHASES, default=views.PHASES, key="filter_phases")
    value_range = st.slider("Val accuracy", 0.0, 1.0, (0.0, 1.0), step=0.01, key="filter_value")
    names = data.param_names(url, study)
    param = st.selectbox("Parameter", ["(any)", *names], key="filter_param")
    param_values = param_range = None
    if param != "(any)":
        choices, bounds = data.param_choices(url, study, param)
        if choices is not None:
            labels = [label for _, label in choices]
            picked = st.multiselect(
                f"{param} is one of", labels, default=labels, key=f"filter_values_{param}"
            )
            if len(picked) < len(labels):  # all of them: no condition (trials without it too)
                param_values = tuple(raw for raw, label in choices if label in picked)
        elif bounds is not None and bounds[0] < bounds[1]:
            chosen = st.slider(
                f"{param} between", *bounds, bounds, format="%g", key=f"filter_range_{param}"
            )
            param_range = None if tuple(chosen) == tuple(bounds) else tuple(chosen)
        else:
            st.caption(f"{param} has too many distinct values to pick from.")
    st.subheader("Order")
    sort_label = st.selectbox(
        "Sort by",
        [*views.SORTS, *(f"param: {p}" for p in names)],
        key="sort_by",
    )
    descending = st.toggle(
        "Descending", value=sort_label in views.BEST_FIRST, key=f"descending_{sort_label}"
    )
    page_size = st.selectbox("Rows per page", PAGE_SIZES, index=1, key="page_size")

where = views.trial_filter(states, phases, value_range, param, param_values, param_range)
sort = views.SORTS.get(sort_label) or "param:" + sort_label.removeprefix("param: ")


@st.fragment(run_every=REFRESH_S)
def trials_table() -> None:
    stamp = data.study_stamp(url, study)  # the only read while nothing changes
    # A new filter or order starts again at page 1: the pager's key changes with them.
    pager = f"trials_page_{hash((study, where, sort, descending, page_size))}"

    def read(number: int):
        offset = (number - 1) * page_size
        return data.trial_page(url, study, where, sort, descending, offset, page_size, stamp)

    page = read(st.session_state.get(pager, 1))
    pages = max(1, -(-page.total // page_size))
    if st.session_state.get(pager, 1) > pages:  # fewer match now: show the last page
        st.session_state[pager] = pages
        page = read(pages)
    st.number_input(f"Page (of {pages:,})", 1, pages, key=pager)
    shown = [t.number for t in page.trials]
    chosen = st.session_state.setdefault("compare", [])
    start = page.offset + 1
    st.caption(
        f"Trials {start:,}–{page.offset + len(shown):,} of {page.total:,} matching "
        f"({page.study_total:,} in the study). Select rows to carry them to **Compare**; "
        "the selection is kept as you page."
        if shown
        else f"No trial of {page.study_total:,} matches these filters."
    )
    event = st.dataframe(
        views.trials_frame(page.trials, page.evaluated),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        # One key per set of rows shown: a row index always means the same trial.
        key=f"trials_table_{study}_{hash(tuple(shown))}",
        selection_default={"selection": {"rows": [i for i, n in enumerate(shown) if n in chosen]}},
        column_config={
            "Val accuracy": st.column_config.NumberColumn(format="percent"),
            "Test accuracy": st.column_config.NumberColumn(format="percent"),
            "Parameters": st.column_config.NumberColumn(format="localized"),
        },
    )
    chosen = views.merge_selection(chosen, shown, [shown[i] for i in event.selection.rows])
    st.session_state["compare"] = chosen
    if chosen:
        left, right = st.columns([5, 1])
        left.success(
            f"Selected trials {', '.join(map(str, chosen))}: open **Compare** to see them."
        )
        if right.button("Clear selection", key="clear_compare"):
            st.session_state["compare"] = []
            st.rerun(scope="fragment")


trials_table()
