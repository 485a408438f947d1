"""The server's Prometheus metrics, in a registry of its own (one per app); with
``automl serve --workers N``, summed over the workers' files (prometheus_client's
multiprocess mode, on when PROMETHEUS_MULTIPROC_DIR is set)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclass
class Metrics:
    registry: CollectorRegistry
    duration: Histogram
    requests: Counter
    in_flight: Gauge
    confidence: Histogram
    predictions: Counter
    log_dropped: Counter
    log_pending: Gauge

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry,
            Histogram(
                "automl_request_duration_seconds", "Time to answer a request", ["endpoint"],
                registry=registry,
            ),
            Counter(
                "automl_requests", "Requests answered", ["endpoint", "status"], registry=registry
            ),
            Gauge("automl_requests_in_flight", "Requests being answered", registry=registry,
                  multiprocess_mode="livesum"),
            Histogram(
                "automl_prediction_confidence", "Top-1 probability of each prediction",
                buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
                registry=registry,
            ),
            Counter(
                "automl_predictions", "Predictions by predicted class", ["model", "label"],
                registry=registry,
            ),
            Counter(
                "automl_prediction_log_dropped",
                "Prediction-log entries dropped while the database could not take them",
                registry=registry,
            ),
            Gauge(
                "automl_prediction_log_pending", "Prediction-log entries not yet written",
                registry=registry, multiprocess_mode="livesum",
            ),
        )  # fmt: skip


def exposition(registry: CollectorRegistry) -> bytes:
    """The metrics text: this process's registry, or every worker's when they share a folder."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


__all__ = ["Metrics", "exposition"]
