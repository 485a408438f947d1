"""The Analysis page: best-so-far history, importance, parallel coordinates, the
accuracy-vs-size front, sampled on big studies. No Streamlit here."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.views._common import (
    LAYOUT,
    MAX_POINTS,
    STATE_COLOURS,
    sample_items,
    sampled_note,
    scatter_class,
)
from dashboard.views._trials import param_columns
from storage import (
    TrialPoint,
    TrialRecord,
    TrialState,
)

#: Completed trials behind importance and parallel coordinates on a big study: the best
#: quarter of it and a random rest: fANOVA fits them in about 0.25 s here (BENCHMARKS.md).
ANALYSIS_SAMPLE = 500


def history_figure(
    trials: Sequence[TrialRecord | TrialPoint], max_points: int = MAX_POINTS, of: int = 0
) -> go.Figure:
    """``of``: how many finished trials the study has, when ``trials`` is a sample of them
    that keeps every best-so-far step (``TrialStore.trial_points``)."""
    finished = sorted(
        (t for t in trials if t.value is not None and t.state is not TrialState.RUNNING),
        key=lambda t: t.number,
    )
    # The best-so-far staircase needs only its steps, and one point at the end.
    best, steps = None, []
    for t in finished:
        if t.state is TrialState.COMPLETE and (best is None or t.value > best.value):
            best = t
            steps.append(t)
    xs = [t.number for t in steps] + ([finished[-1].number] if steps else [])
    ys = [t.value for t in steps] + ([steps[-1].value] if steps else [])
    drawn = sample_items(finished, max_points, keep={t.number for t in steps})
    figure = go.Figure()
    for state in (TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE):  # completed on top
        group = [t for t in drawn if t.state is state]
        if group:
            figure.add_trace(
                scatter_class(len(drawn))(
                    x=np.asarray([t.number for t in group]),
                    y=np.asarray([t.value for t in group]),
                    mode="markers",
                    name=state.value.lower(),
                    marker={"color": STATE_COLOURS[state.value], "size": 8},
                )
            )
    figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="best so far", line={"shape": "hv"}))
    figure.update_layout(
        title="Optimisation history" + sampled_note(len(drawn), max(of, len(finished)), "trials"),
        xaxis_title="Trial number",
        yaxis_title="Validation accuracy",
        **LAYOUT,
    )
    return figure


def analysis_sample(points: Sequence[TrialPoint], limit: int = ANALYSIS_SAMPLE) -> list[int]:
    """Numbers of the completed trials the parameter charts use: all of them on a small
    study; on a big one the best quarter of ``limit`` and a seeded random rest."""
    completed = sorted(
        (p for p in points if p.state is TrialState.COMPLETE and p.value is not None),
        key=lambda p: (-p.value, p.number),
    )
    if len(completed) > limit:
        best = limit // 4
        completed = completed[:best] + random.Random(0).sample(completed[best:], limit - best)
    return sorted(p.number for p in completed)


def importance_figure(importances: dict[str, float]) -> go.Figure:
    names = list(importances)[::-1]
    figure = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h"))
    figure.update_layout(
        title="Parameter importance (fANOVA)",
        xaxis_title="Share of validation-accuracy variance",
        yaxis_title="Parameter",
        **LAYOUT,
    )
    return figure


def parallel_figure(frame: pd.DataFrame, of_completed: int | None = None) -> go.Figure:
    """``of_completed``: how many completed trials the study has, when ``frame`` holds a
    sample of them (see ``analysis_sample``)."""
    completed = frame[(frame["State"] == TrialState.COMPLETE.value) & frame["Val accuracy"].notna()]
    dimensions = []
    for column in param_columns(completed):
        values = completed[column]
        if values.nunique(dropna=True) < 2:
            continue
        label = column.removeprefix("param: ")
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            dimensions.append({"label": label, "values": values.astype(float)})
        else:
            categories = sorted(values.astype(str).unique())
            codes = values.astype(str).map({c: i for i, c in enumerate(categories)})
            dimensions.append(
                {
                    "label": label,
                    "values": codes,
                    "tickvals": list(range(len(categories))),
                    "ticktext": categories,
                }
            )
    dimensions.append({"label": "val accuracy", "values": completed["Val accuracy"]})
    figure = go.Figure(
        go.Parcoords(
            line={"color": completed["Val accuracy"], "colorscale": "Viridis", "showscale": True},
            dimensions=dimensions,
        )
    )
    note = ""
    if of_completed and of_completed > len(completed):
        note = (
            f"<br><sup>{len(completed):,} of {of_completed:,}: the best "
            f"{ANALYSIS_SAMPLE // 4:,} and a random sample of the rest</sup>"
        )
    figure.update_layout(
        title="Parallel coordinates of completed trials" + note,
        **{**LAYOUT, "margin": {"l": 80, "r": 40, "t": 80, "b": 40}},
    )
    return figure


def pareto_front(trials: Sequence[TrialRecord | TrialPoint]) -> list[TrialRecord | TrialPoint]:
    """Completed trials no other trial beats on both size (fewer weights) and accuracy."""
    candidates = sorted(
        (
            t
            for t in trials
            if t.state is TrialState.COMPLETE and t.value is not None and t.param_count
        ),
        key=lambda t: (t.param_count, -t.value),
    )
    front, best = [], -1.0
    for t in candidates:
        if t.value > best:
            front.append(t)
            best = t.value
    return front


def pareto_figure(
    trials: Sequence[TrialRecord | TrialPoint], max_points: int = MAX_POINTS, of: int = 0
) -> go.Figure:
    """``of``: how many completed trials with a size the study has, when ``trials`` is a
    sample of them that keeps the whole front (``TrialStore.trial_points``)."""
    every = [
        t
        for t in trials
        if t.state is TrialState.COMPLETE and t.value is not None and t.param_count
    ]
    front = pareto_front(trials)
    completed = sample_items(every, max_points, keep={t.number for t in front})
    figure = go.Figure()
    figure.add_trace(
        scatter_class(len(completed))(
            x=np.asarray([t.param_count for t in completed]),
            y=np.asarray([t.value for t in completed]),
            mode="markers",
            name="completed trial",
            text=[f"trial {t.number}" for t in completed],
            marker={"color": "#90a4ae", "size": 8},
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[t.param_count for t in front],
            y=[t.value for t in front],
            mode="lines+markers",
            name="best for its size",
            text=[f"trial {t.number}" for t in front],
            line={"shape": "hv", "color": "#2e7d32"},
            marker={"size": 10},
        )
    )
    figure.update_layout(
        title="Accuracy vs model size"
        + sampled_note(len(completed), max(of, len(every)), "trials"),
        xaxis_title="Parameters (weights, log scale)",
        yaxis_title="Validation accuracy",
        **LAYOUT,
    )
    figure.update_xaxes(type="log")
    return figure


__all__ = [
    "ANALYSIS_SAMPLE",
    "analysis_sample",
    "history_figure",
    "importance_figure",
    "parallel_figure",
    "pareto_figure",
    "pareto_front",
]
