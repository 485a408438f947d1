"""The Studies page: one row per study. No Streamlit here."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dashboard.views._common import naive_utc
from storage import (
    StudySummary,
    TrialState,
)


def studies_frame(summaries: Sequence[StudySummary]) -> pd.DataFrame:
    rows = [
        {
            "Study": s.study.name,
            "Task": s.study.task,
            "Status": "running" if s.is_running else "idle",
            "Trials": s.n_trials,
            "Complete": s.counts.get(TrialState.COMPLETE, 0),
            "Pruned": s.counts.get(TrialState.PRUNED, 0),
            "Failed": s.counts.get(TrialState.FAIL, 0),
            "Running": s.counts.get(TrialState.RUNNING, 0),
            "Best val accuracy": s.best_value,
            "Best trial": s.best_trial_number,
            "Champion": s.champion_trial_number,
            "Last activity (UTC)": naive_utc(s.last_activity),
        }
        for s in summaries
    ]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["Study"])


__all__ = ["studies_frame"]
