"""The Trial & champion page: the test evaluation's confusion matrix and per-class table.

No Streamlit here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.views._common import LAYOUT
from storage import EvaluationRecord, TestPrediction


def confusion_figure(evaluation: EvaluationRecord) -> go.Figure:
    """The confusion matrix; each cell carries a transparent marker whose ``customdata`` is
    (true, predicted): Plotly selects markers, not heatmap cells, so a click picks the cell."""
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
            hoverinfo="skip",
        )
    )
    cells = [(t, p) for t in range(len(names)) for p in range(len(names))]
    figure.add_trace(
        go.Scatter(
            x=[names[p] for _, p in cells],
            y=[names[t] for t, _ in cells],
            customdata=cells,
            mode="markers",
            marker={"size": 28, "opacity": 0.01, "symbol": "square"},
            hovertemplate="true %{y}, predicted %{x}: click to see the images<extra></extra>",
            showlegend=False,
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


def most_confused(evaluation: EvaluationRecord) -> tuple[int, int]:
    """The off-diagonal cell with the most images (true, predicted); (0, 0) when none."""
    best, cell = 0, (0, 0)
    for t, row in enumerate(evaluation.confusion):
        for p, count in enumerate(row):
            if t != p and count > best:
                best, cell = count, (t, p)
    return cell


def probabilities_figure(
    class_names: list[str], probabilities: list[float], target: int
) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=probabilities,
            y=class_names,
            orientation="h",
            marker_color=["#d62728" if i == target else "#1f77b4" for i in range(len(class_names))],
            text=[f"{p:.1%}" for p in probabilities],
            textposition="outside",
        )
    )
    figure.update_layout(
        title="Class probabilities", xaxis={"range": [0, 1.15], "tickformat": ".0%"},
        **{**LAYOUT, "height": max(240, 28 * len(class_names))},
    )  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    return figure


def prediction_caption(prediction: TestPrediction, class_names: list[str]) -> str:
    given, answer = class_names[prediction.label], class_names[prediction.predicted]
    verdict = "" if prediction.label == prediction.predicted else f" → {answer}"
    return f"{prediction.path}: {given}{verdict} ({prediction.confidence:.0%})"


__all__ = [
    "confusion_figure",
    "most_confused",
    "per_class_frame",
    "prediction_caption",
    "probabilities_figure",
]
