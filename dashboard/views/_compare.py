"""The Compare page: learning curves and parameters side by side. No Streamlit here."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.views._common import LAYOUT, STATE_COLOURS, param_text
from storage import (
    EpochRecord,
    TrialRecord,
    TrialState,
)

METRICS = {
    "val_accuracy": "Validation accuracy",
    "val_loss": "Validation loss",
    "accuracy": "Training accuracy",
    "loss": "Training loss",
}


def epochs_frame(epochs: Sequence[EpochRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "trial": e.trial_number,
                "epoch": e.epoch,
                "loss": e.loss,
                "accuracy": e.accuracy,
                "val_loss": e.val_loss,
                "val_accuracy": e.val_accuracy,
                "learning_rate": e.learning_rate,
                "seconds": e.seconds,
                "data_fraction": e.data_fraction,
                "images_seen": e.images_seen,
            }
            for e in epochs
        ],
        columns=[
            "trial",
            "epoch",
            "loss",
            "accuracy",
            "val_loss",
            "val_accuracy",
            "learning_rate",
            "seconds",
            "data_fraction",
            "images_seen",
        ],
    )


#: The x axes a curve can be drawn against. Images seen compares trials that trained on
#: different fractions of the data honestly: an epoch on 1/8 of it is an eighth of the work.
X_AXES = {"epoch": "Epoch", "images_seen": "Images seen"}


def curves_figure(
    epochs: pd.DataFrame, trials: Sequence[TrialRecord], metric: str, x: str = "epoch"
) -> go.Figure:
    """One line per trial; a pruned trial ends in an ✕ at the epoch it was stopped."""
    label = METRICS.get(metric, metric)
    if x == "images_seen" and epochs["images_seen"].isna().any():
        x = "epoch"  # trials recorded before images were counted: fall back to epochs
    figure = go.Figure()
    by_number = {t.number: t for t in trials}
    for number, curve in epochs.groupby("trial", sort=True):
        trial = by_number.get(int(number))
        state = trial.state.value if trial else "?"
        name = f"trial {number} ({state.lower()})"
        figure.add_trace(go.Scatter(x=curve[x], y=curve[metric], mode="lines+markers", name=name))
        if trial and trial.state in (TrialState.PRUNED, TrialState.FAIL) and len(curve):
            last = curve.iloc[-1]
            figure.add_trace(
                go.Scatter(
                    x=[last[x]],
                    y=[last[metric]],
                    mode="markers",
                    marker={
                        "symbol": "x",
                        "size": 14,
                        "color": STATE_COLOURS[state],
                        "line": {"width": 2},
                    },
                    name=f"trial {number} {state.lower()} at epoch {int(last['epoch'])}",
                )
            )
    figure.update_layout(
        title=f"{label} per epoch" if x == "epoch" else f"{label} against images seen",
        xaxis_title=X_AXES[x],
        yaxis_title=label,
        legend_title="Trial",
        **LAYOUT,
    )
    if x == "epoch":
        figure.update_xaxes(dtick=1 if len(epochs) and epochs["epoch"].max() <= 30 else None)
    return figure


def params_comparison(trials: Sequence[TrialRecord]) -> pd.DataFrame:
    """Parameters side by side (one column per trial); rows that differ come first."""
    keys = sorted({k for t in trials for k in t.params})
    table = pd.DataFrame(
        {f"trial {t.number}": [param_text(t.params.get(k)) for k in keys] for t in trials},
        index=keys,
    )
    table.index.name = "parameter"
    differs = table.astype(str).nunique(axis=1) > 1
    return pd.concat([table[differs], table[~differs]])


def differing_rows(table: pd.DataFrame) -> list[str]:
    return [str(i) for i in table.index[table.astype(str).nunique(axis=1) > 1]]


__all__ = [
    "METRICS",
    "X_AXES",
    "curves_figure",
    "differing_rows",
    "epochs_frame",
    "params_comparison",
]
