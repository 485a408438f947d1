"""The Monitoring page's figures from a prediction log: traffic, errors, latency, drift."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from dashboard.views import MIN_DRIFT_SAMPLE, js_distance, monitoring, psi
from storage import EvaluationRecord, PredictionRecord

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
CLASSES = [str(i) for i in range(10)]


def _reference() -> EvaluationRecord:
    """A balanced test split that the model got right: 30 of each class predicted."""
    confusion = (np.eye(10, dtype=int) * 30).tolist()
    return EvaluationRecord(
        0, 1.0, 1.0, CLASSES, [1.0] * 10, [1.0] * 10, [1.0] * 10, [30] * 10, confusion,
        None, None, None, None, None, None, NOW, [0, 0, 0, 0, 0, 0, 0, 0, 30, 270],
    )  # fmt: skip


def _log(labels: list[str], *, minutes_ago: float = 1.0, status: int = 200, latency=5.0):
    return [
        PredictionRecord(
            "digits", "ab" * 32, f"r{i}-{minutes_ago}-{status}", "/predict", status, latency,
            NOW - timedelta(minutes=minutes_ago), label, 0.95 if label else None, "digits", 0,
        )
        for i, label in enumerate(labels)
    ]  # fmt: skip


def test_traffic_like_the_test_split_raises_no_alarm() -> None:
    rng = np.random.default_rng(0)
    records = _log([CLASSES[i] for i in rng.integers(0, 10, 600)])
    view = monitoring(records, _reference(), timedelta(hours=1), now=NOW)
    assert view is not None and view.requests == 600 and view.predictions == 600
    assert view.drift is not None and not view.drift.alarm
    assert view.drift.js_distance < 0.15 and view.drift.psi < 0.2
    assert view.error_rate == 0 and view.latency_p50_ms == 5.0
    assert view.low_confidence_share == 0.0
    assert view.classes["reference"].tolist() == pytest.approx([0.1] * 10)
    assert view.confidence["reference"].iloc[-1] == pytest.approx(0.9)


def test_one_class_only_is_drift_but_not_on_a_handful() -> None:
    few = _log(["3"] * (MIN_DRIFT_SAMPLE - 1))
    view = monitoring(few, _reference(), timedelta(hours=1), now=NOW)
    assert view.drift.js_distance > 0.15 and not view.drift.alarm  # too few to judge
    many = _log(["3"] * MIN_DRIFT_SAMPLE)
    assert monitoring(many, _reference(), timedelta(hours=1), now=NOW).drift.alarm


def test_errors_window_and_no_reference() -> None:
    records = _log(["1"] * 3) + _log([None], status=400) + _log(["2"], minutes_ago=120)
    view = monitoring(records, None, timedelta(hours=1), now=NOW)
    assert view.requests == 4 and view.predictions == 3  # the old one is outside the window
    assert view.error_rate == 0.25 and view.drift is None
    assert view.per_minute[["answered", "refused"]].sum().tolist() == [3, 1]
    assert monitoring(records, None, timedelta(minutes=1), now=NOW + timedelta(hours=5)) is None


def test_distances() -> None:
    p = np.full(10, 0.1)
    assert js_distance(p, p) == pytest.approx(0.0) and psi(p, p) == pytest.approx(0.0)
    one = np.eye(10)[0]
    assert 0.9 < js_distance(one, np.eye(10)[1]) <= 1.0  # disjoint: the maximum
    assert psi(one, p) > 1.0
