"""The Trial & champion page: the test evaluation's confusion matrix and per-class table.

No Streamlit here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.views._common import LAYOUT
from storage import EvaluationRecord


def confusion_figure(evaluation: EvaluationRecord) -> go.Figure:
    names = evaluation.class_names
    figure = go.Figure(
        go.Heatmap(
            z=evaluation.confusion,
            x=names,
            y=names,
            colorscale="Blues",
            text=evaluation.confusion,
            texttemplate="%{text}",
            colorbar={"title": "Images"},
        )
    )
    figure.update_layout(
        title="Confusion matrix (test split)",
        xaxis_title="Predicted class",
        yaxis_title="True class",
        **{**LAYOUT, "height": 520},
    )
    figure.update_yaxes(autorange="reversed")
    return figure


def per_class_frame(evaluation: EvaluationRecord) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Class": evaluation.class_names,
            "Precision": evaluation.precision,
            "Recall": evaluation.recall,
            "F1": evaluation.f1,
            "Support": evaluation.support,
        }
    )


__all__ = ["confusion_figure", "per_class_frame"]
