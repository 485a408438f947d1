"""Tables and figures for the dashboard, from store records. No Streamlit here: easy to test."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from storage import (
    EpochRecord,
    EvaluationRecord,
    StudySummary,
    TrialFilter,
    TrialPoint,
    TrialRecord,
    TrialState,
    fraction_text,
)

#: Most markers a scatter chart draws; past it, a seeded random sample (the title says so).
MAX_POINTS = 5_000
#: Completed trials behind importance and parallel coordinates on a big study: the best
#: quarter of it and a random rest: fANOVA fits them in about 0.25 s here (BENCHMARKS.md).
ANALYSIS_SAMPLE = 500

METRICS = {
    "val_accuracy": "Validation accuracy",
    "val_loss": "Validation loss",
    "accuracy": "Training accuracy",
    "loss": "Training loss",
}
STATE_COLOURS = {
    TrialState.COMPLETE.value: "#2e7d32",
    TrialState.PRUNED.value: "#f9a825",
    TrialState.FAIL.value: "#c62828",
    TrialState.RUNNING.value: "#1565c0",
}
_LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "height": 420,
}


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
            "Last activity (UTC)": _naive_utc(s.last_activity),
        }
        for s in summaries
    ]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["Study"])


def trials_frame(trials: Sequence[TrialRecord], test_accuracy: dict[int, float]) -> pd.DataFrame:
    """One row per trial: the fixed columns, then one column per search parameter."""
    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "Trial": t.number,
            "Phase": t.phase,
            "State": t.state.value,
            "Val accuracy": t.value,
            "Test accuracy": test_accuracy.get(t.number, t.test_accuracy),
            "Data": fraction_text(t.data_fraction),
            "Epochs": t.epochs_run,
            "Images seen": t.images_seen or None,
            "Pruned at epoch": t.pruned_at_epoch,
            "Parameters": t.param_count,
            "Duration (s)": round(t.duration_s, 1) if t.duration_s is not None else None,
            "Reason": t.reason,
        }
        row.update({f"param: {k}": param_cell(v) for k, v in t.params.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["Trial", "State", "Val accuracy"])
    return frame


STATES = [
    s.value for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
]
PHASES = ["search", "screening", "final"]
#: Trials table orders, label -> the store's sort key.
SORTS = {
    "Trial": "number",
    "Val accuracy": "value",
    "Test accuracy": "test_accuracy",
    "Parameters": "param_count",
    "Epochs": "epochs_run",
    "Images seen": "images_seen",
    "Data": "data_fraction",
    "Duration (s)": "duration_s",
}
BEST_FIRST = ("Val accuracy", "Test accuracy")


def trial_filter(
    states: Sequence[str],
    phases: Sequence[str],
    value_range: tuple[float, float],
    param: str,
    param_values: tuple[Any, ...] | None,
    param_range: tuple[float, float] | None,
) -> TrialFilter:
    """The sidebar's choices as the store's filter; what is left wide open is no condition."""
    return TrialFilter(
        states=None if set(states) >= set(STATES) else tuple(states),
        phases=None if set(phases) >= set(PHASES) else tuple(phases),
        value_range=None if tuple(value_range) == (0.0, 1.0) else tuple(value_range),
        param=None if param == "(any)" else param,
        param_values=param_values,
        param_range=param_range,
    )


def trial_numbers(typed: Iterable[int | str]) -> tuple[list[int], list[str]]:
    """The trial numbers a picker returned, and what a user typed that names no number.
    Typed text may be a label ("trial 12 (champion)"): a picker hands one back as text when
    its options changed under it."""
    numbers, bad = set(), []
    for value in typed:
        found = re.search(r"\d+", str(value))
        if found:
            numbers.add(int(found.group()))
        else:
            bad.append(str(value).strip())
    return sorted(numbers), bad


def merge_selection(
    chosen: Sequence[int], shown: Sequence[int], selected: Iterable[int]
) -> list[int]:
    """Trials picked for Compare after a selection on one page, in the order picked: picks on
    other pages stay; this page's rows count exactly as they are selected now."""
    on_page, selected = set(shown), set(selected)
    kept = [n for n in chosen if n not in on_page or n in selected]
    return kept + [n for n in shown if n in selected and n not in kept]


def param_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("param: ")]


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
        **_LAYOUT,
    )
    if x == "epoch":
        figure.update_xaxes(dtick=1 if len(epochs) and epochs["epoch"].max() <= 30 else None)
    return figure


def params_comparison(trials: Sequence[TrialRecord]) -> pd.DataFrame:
    """Parameters side by side (one column per trial); rows that differ come first."""
    keys = sorted({k for t in trials for k in t.params})
    table = pd.DataFrame(
        {f"trial {t.number}": [_text(t.params.get(k)) for k in keys] for t in trials}, index=keys
    )
    table.index.name = "parameter"
    differs = table.astype(str).nunique(axis=1) > 1
    return pd.concat([table[differs], table[~differs]])


def differing_rows(table: pd.DataFrame) -> list[str]:
    return [str(i) for i in table.index[table.astype(str).nunique(axis=1) > 1]]


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
    drawn = _sample(finished, max_points, keep={t.number for t in steps})
    figure = go.Figure()
    for state in (TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE):  # completed on top
        group = [t for t in drawn if t.state is state]
        if group:
            figure.add_trace(
                _scatter(len(drawn))(
                    x=np.asarray([t.number for t in group]),
                    y=np.asarray([t.value for t in group]),
                    mode="markers",
                    name=state.value.lower(),
                    marker={"color": STATE_COLOURS[state.value], "size": 8},
                )
            )
    figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="best so far", line={"shape": "hv"}))
    figure.update_layout(
        title="Optimisation history" + _sampled_note(len(drawn), max(of, len(finished)), "trials"),
        xaxis_title="Trial number",
        yaxis_title="Validation accuracy",
        **_LAYOUT,
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


def _sample(items: Sequence[Any], limit: int, keep: set[int] = frozenset()) -> list[Any]:
    """At most about ``limit`` items, always those whose number is in ``keep``."""
    if len(items) <= limit:
        return list(items)
    rest = [t for t in items if t.number not in keep]
    chosen = set(random.Random(0).sample(range(len(rest)), max(0, limit - len(keep))))
    return [t for t in items if t.number in keep] + [t for i, t in enumerate(rest) if i in chosen]


def _scatter(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    """WebGL past a thousand markers: SVG scatter plots crawl in the browser. (Their data go
    in as numpy arrays: Plotly validates a list item by item, 20 times slower.)"""
    return go.Scattergl if n_points > 1_000 else go.Scatter


def _sampled_note(shown: int, total: int, what: str) -> str:
    """A second, smaller title line: half-width charts have no room on the first."""
    return f"<br><sup>{shown:,} of {total:,} {what} drawn at random</sup>" if shown < total else ""


def importance_figure(importances: dict[str, float]) -> go.Figure:
    names = list(importances)[::-1]
    figure = go.Figure(go.Bar(x=[importances[n] for n in names], y=names, orientation="h"))
    figure.update_layout(
        title="Parameter importance (fANOVA)",
        xaxis_title="Share of validation-accuracy variance",
        yaxis_title="Parameter",
        **_LAYOUT,
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
        **{**_LAYOUT, "margin": {"l": 80, "r": 40, "t": 80, "b": 40}},
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
    completed = _sample(every, max_points, keep={t.number for t in front})
    figure = go.Figure()
    figure.add_trace(
        _scatter(len(completed))(
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
        + _sampled_note(len(completed), max(of, len(every)), "trials"),
        xaxis_title="Parameters (weights, log scale)",
        yaxis_title="Validation accuracy",
        **_LAYOUT,
    )
    figure.update_xaxes(type="log")
    return figure


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
        **{**_LAYOUT, "height": 520},
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


def _text(value: Any) -> str:
    """A parameter as text: a column of mixed bools, numbers and strings is not Arrow's."""
    value = param_cell(value)
    return "—" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def param_cell(value: Any) -> Any:
    """A parameter for a table cell or a category: a list (per-block filters) as '32, 64'."""
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else value


def _naive_utc(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value else None
