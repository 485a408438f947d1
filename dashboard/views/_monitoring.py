"""What the Monitoring page shows, computed from the prediction log. No Streamlit here.

Drift compares the predicted-class distribution of the recent window with the reference (the
served model's predictions on the held-out test split, stored when it was evaluated):

- Jensen-Shannon distance (base 2, from 0 to 1; symmetric, and finite when a class is absent
  on one side). Alarm above 0.15.
- PSI, the population stability index of credit scoring: below 0.1 stable, 0.1-0.2 a moderate
  shift, above 0.2 a significant one; the usual rule, used as the alarm.

Chosen by simulation (10 balanced classes, 2,000 draws each): sampling noise alone gives a
JS distance with a 99th percentile of 0.115 at 300 predictions (0.27 at the 95th with 50), PSI
0.074; moving a tenth of the traffic from one class to another gives JS 0.25 and PSI 0.76, half
of that JS 0.10. So drift is judged only on at least MIN_DRIFT_SAMPLE = 300 predictions, where
neither alarm fired once on pure noise, and a shift of a tenth of the traffic always does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from storage import CONFIDENCE_BINS, EvaluationRecord, PredictionRecord

JS_ALARM = 0.15
PSI_ALARM = 0.2
MIN_DRIFT_SAMPLE = 300
LOW_CONFIDENCE = 0.5
_EPS = 1e-4  # PSI's floor for an empty class on one side


@dataclass(frozen=True)
class Drift:
    js_distance: float
    psi: float
    sample: int

    @property
    def alarm(self) -> bool:
        return self.sample >= MIN_DRIFT_SAMPLE and (
            self.js_distance > JS_ALARM or self.psi > PSI_ALARM
        )


@dataclass(frozen=True)
class Monitoring:
    requests: int
    predictions: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    low_confidence_share: float | None
    per_minute: pd.DataFrame  # minute, answered, refused
    classes: pd.DataFrame  # class, live share, reference share
    confidence: pd.DataFrame  # bin, live share, reference share
    drift: Drift | None  # None: no reference to compare with
    served: str  # which model answered last: "trial 3 of 'fm' (sha256 ...)"


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return float(np.sqrt(max(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0)))


def psi(live: np.ndarray, reference: np.ndarray) -> float:
    p = np.clip(live / live.sum(), _EPS, None)
    q = np.clip(reference / reference.sum(), _EPS, None)
    return float(np.sum((p - q) * np.log(p / q)))


def monitoring(
    records: list[PredictionRecord],
    reference: EvaluationRecord | None,
    window: timedelta,
    now: datetime | None = None,
) -> Monitoring | None:
    """The page's figures over the last ``window``; None when nothing was served in it."""
    now = now or datetime.now(timezone.utc)
    recent = [r for r in records if r.created_at >= now - window]
    if not recent:
        return None
    requests = {r.request_id: r.status for r in recent}
    refused = sum(1 for status in requests.values() if status >= 400)
    answers = [r for r in recent if r.label is not None]
    latencies = np.array([r.latency_ms for r in {r.request_id: r for r in recent}.values()])
    frame = pd.DataFrame(
        {
            "minute": [r.created_at.replace(second=0, microsecond=0) for r in recent],
            "answered": [r.label is not None for r in recent],
        }
    )
    per_minute = (
        frame.groupby("minute")["answered"]
        .agg(answered="sum", refused=lambda s: int((~s).sum()))
        .reset_index()
    )
    last = recent[-1]
    served = (
        f"trial {last.trial_number} of {last.study_name!r}"
        if last.study_name is not None
        else f"model {last.model_name!r}"
    ) + f" (sha256 {last.model_sha256[:12]})"
    names = list(reference.class_names) if reference else sorted({r.label for r in answers})
    live_counts = np.array([sum(1 for r in answers if r.label == n) for n in names], float)
    confidences = np.array([r.confidence for r in answers if r.confidence is not None])
    live_confidence = np.histogram(confidences, CONFIDENCE_BINS)[0].astype(float)
    bins = [f"{lo:.1f}-{hi:.1f}" for lo, hi in itertools.pairwise(CONFIDENCE_BINS)]
    drift, ref_classes, ref_confidence = None, None, None
    if reference is not None:
        ref_classes = np.asarray(reference.confusion, float).sum(axis=0)
        if reference.confidence_histogram:
            ref_confidence = np.asarray(reference.confidence_histogram, float)
        if live_counts.sum() > 0:
            drift = Drift(
                js_distance(live_counts, ref_classes), psi(live_counts, ref_classes), len(answers)
            )
    return Monitoring(
        requests=len(requests),
        predictions=len(answers),
        error_rate=refused / len(requests),
        latency_p50_ms=float(np.percentile(latencies, 50)),
        latency_p99_ms=float(np.percentile(latencies, 99)),
        low_confidence_share=(
            float(np.mean(confidences < LOW_CONFIDENCE)) if len(confidences) else None
        ),
        per_minute=per_minute,
        classes=pd.DataFrame(
            {
                "class": names,
                "live": _share(live_counts),
                "reference": _share(ref_classes) if ref_classes is not None else np.nan,
            }
        ),
        confidence=pd.DataFrame(
            {
                "confidence": bins,
                "live": _share(live_confidence),
                "reference": _share(ref_confidence) if ref_confidence is not None else np.nan,
            }
        ),
        drift=drift,
        served=served,
    )


def traffic_figure(per_minute: pd.DataFrame):
    import plotly.graph_objects as go

    figure = go.Figure(
        [
            go.Bar(x=per_minute["minute"], y=per_minute["answered"], name="answered"),
            go.Bar(x=per_minute["minute"], y=per_minute["refused"], name="refused (4xx/5xx)"),
        ]
    )
    figure.update_layout(
        barmode="stack", title="Predictions per minute", height=300, margin={"t": 40, "b": 10}
    )
    return figure


def shares_figure(frame: pd.DataFrame, category: str, title: str):
    """Live share against the reference (the test split), side by side."""
    import plotly.graph_objects as go

    bars = [go.Bar(x=frame[category].astype(str), y=frame["live"], name="live")]
    if frame["reference"].notna().any():
        bars.append(
            go.Bar(
                x=frame[category].astype(str), y=frame["reference"], name="reference (test split)"
            )
        )
    figure = go.Figure(bars)
    figure.update_layout(
        barmode="group", title=title, height=300, margin={"t": 40, "b": 10},
        yaxis_tickformat=".0%",
    )  # fmt: skip
    return figure


def _share(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


__all__ = [
    "JS_ALARM",
    "LOW_CONFIDENCE",
    "MIN_DRIFT_SAMPLE",
    "PSI_ALARM",
    "Drift",
    "Monitoring",
    "js_distance",
    "monitoring",
    "psi",
    "shares_figure",
    "traffic_figure",
]
