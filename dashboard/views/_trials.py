"""The Trials page: the table, its filters, sorting and selection. No Streamlit here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from dashboard.views._common import param_cell
from storage import (
    TrialFilter,
    TrialRecord,
    TrialState,
    fraction_text,
)


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


__all__ = [
    "BEST_FIRST",
    "PHASES",
    "SORTS",
    "STATES",
    "merge_selection",
    "param_columns",
    "trial_filter",
    "trial_numbers",
    "trials_frame",
]
