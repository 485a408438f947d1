"""The AutoML results dashboard: a list of pages, nothing else."""

import streamlit as st

st.set_page_config(page_title="AutoML CNN search", page_icon="🔎", layout="wide")
pages = st.navigation(
    [
        st.Page("pages/studies.py", title="Studies", icon="📚", default=True),
        st.Page("pages/trials.py", title="Trials", icon="📋"),
        st.Page("pages/compare.py", title="Compare", icon="📈"),
        st.Page("pages/analysis.py", title="Analysis", icon="🧭"),
        st.Page("pages/champion.py", title="Trial & champion", icon="🏆"),
    ]
)
pages.run()
