"""What every page's tables and charts share: colours, layout, sampling, cell text.

No Streamlit here."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import plotly.graph_objects as go

from storage import TrialState

#: Most markers a scatter chart draws; past it, a seeded random sample (the title says so).
MAX_POINTS = 5_000


STATE_COLOURS = {
    TrialState.COMPLETE.value: "#2e7d32",
    TrialState.PRUNED.value: "#f9a825",
    TrialState.FAIL.value: "#c62828",
    TrialState.RUNNING.value: "#1565c0",
}


LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
    "height": 420,
}


def sample_items(items: Sequence[Any], limit: int, keep: set[int] = frozenset()) -> list[Any]:
    """At most about ``limit`` items, always those whose number is in ``keep``."""
    if len(items) <= limit:
        return list(items)
    rest = [t for t in items if t.number not in keep]
    chosen = set(random.Random(0).sample(range(len(rest)), max(0, limit - len(keep))))
    return [t for t in items if t.number in keep] + [t for i, t in enumerate(rest) if i in chosen]


def scatter_class(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    """WebGL past a thousand markers: SVG scatter plots crawl in the browser. (Their data go
    in as numpy arrays: Plotly validates a list item by item, 20 times slower.)"""
    return go.Scattergl if n_points > 1_000 else go.Scatter


def sampled_note(shown: int, total: int, what: str) -> str:
    """A second, smaller title line: half-width charts have no room on the first."""
    return f"<br><sup>{shown:,} of {total:,} {what} drawn at random</sup>" if shown < total else ""


def param_text(value: Any) -> str:
    """A parameter as text: a column of mixed bools, numbers and strings is not Arrow's."""
    value = param_cell(value)
    return "—" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def param_cell(value: Any) -> Any:
    """A parameter for a table cell or a category: a list (per-block filters) as '32, 64'."""
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else value


def naive_utc(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value else None


__all__ = [
    "LAYOUT",
    "MAX_POINTS",
    "STATE_COLOURS",
    "naive_utc",
    "param_cell",
    "param_text",
    "sample_items",
    "sampled_note",
    "scatter_class",
]
