"""The AutoML results dashboard: a list of pages, nothing else."""

import streamlit as st

from dashboard.widgets import require_known_host

st.set_page_config(
    page_title="AutoML CNN search", page_icon=":material/model_training:", layout="wide"
)
require_known_host()
pages = st.navigation(
    [
        st.Page("app_pages/studies.py", title="Studies", icon=":material/dataset:", default=True),
        st.Page("app_pages/trials.py", title="Trials", icon=":material/table_rows:"),
        st.Page("app_pages/compare.py", title="Compare", icon=":material/show_chart:"),
        st.Page("app_pages/analysis.py", title="Analysis", icon=":material/insights:"),
        st.Page(
            "app_pages/champion.py", title="Trial & champion", icon=":material/workspace_premium:"
        ),
        st.Page("app_pages/data.py", title="Data", icon=":material/image_search:"),
        st.Page("app_pages/monitoring.py", title="Monitoring", icon=":material/monitor_heart:"),
    ]
)
pages.run()
