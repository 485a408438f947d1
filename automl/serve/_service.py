"""What every protocol shares: the model being served, the batcher, the metrics, the limits on
requests answered at once and the prediction log.

A protocol module (HTTP's ``_v2``, ``_v1``, ``_predict``; ``_grpc``) turns its requests into
a batch and calls ``Service.predict`` with the request's own state (its id, where its answers
go); the service counts the answers, and ``Service.record`` writes them to the log."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from automl.serve._batching import MicroBatcher
from automl.serve._holder import ModelHolder
from automl.serve._http import MAX_BATCH, Admission, HTTPError, HttpRequest
from automl.serve._log import PredictionLog
from automl.serve._metrics import Metrics
from automl.serve._model import BadInput, ServedModel


def request_id(given: object) -> str:
    """The id a request is answered and logged under: the client's ``x-request-id`` (64
    characters at most), else 32 random hex digits (as a uuid4's, at a fifth of its cost)."""
    return str(given or os.urandom(16).hex())[:64]


#: A request handler: returns a Response or a JSON-able value.
Handler = Callable[[HttpRequest], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """One route of a protocol. The app reads a POST's body before the handler runs, refused
    unless its media type is one of ``accepts`` (415) or past ``body_limit`` bytes (413)."""

    path: str
    handler: Handler
    method: str = "GET"
    accepts: tuple[str, ...] = ()
    body_limit: Callable[[HttpRequest], int] | None = None


class _Answering:
    """Service.answering's context manager: a class, since every request enters one (a
    generator's costs about 1 us more)."""

    __slots__ = ("admission", "in_flight")

    def __init__(self, admission: Admission, in_flight: Any) -> None:
        self.admission, self.in_flight = admission, in_flight

    def __enter__(self) -> None:
        self.admission.__enter__()
        self.in_flight.inc()

    def __exit__(self, *exc_info: object) -> None:
        self.in_flight.dec()
        self.admission.__exit__()


@dataclass
class Service:
    holder: ModelHolder
    metrics: Metrics
    batcher: MicroBatcher
    #: Where each answered request's inputs are saved as ``<request id>.npy`` (opt-in).
    keep_inputs: Path | None = None
    prediction_log: PredictionLog | None = None
    #: Requests being answered, over every protocol (503 / RESOURCE_EXHAUSTED past its slots).
    admission: Admission = field(default_factory=Admission)
    _counters: dict[tuple[str, str], Any] = field(default_factory=dict)
    _durations: dict[str, Any] = field(default_factory=dict)
    _answered: dict[tuple[str, int], Any] = field(default_factory=dict)

    def answering(self) -> _Answering:
        """One of the server's answering slots (503 past them), counted as in flight, while
        in its ``with`` block."""
        return _Answering(self.admission, self.metrics.in_flight)

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count an answered request in the metrics (each label's child looked up once)."""
        if endpoint not in self._durations:
            self._durations[endpoint] = self.metrics.duration.labels(endpoint)
        self._durations[endpoint].observe(seconds)
        key = (endpoint, status)
        if key not in self._answered:
            self._answered[key] = self.metrics.requests.labels(endpoint, str(status))
        self._answered[key].inc()

    def model_named(self, name: str) -> ServedModel:
        model = self.holder.current
        if name != model.info.name:
            raise HTTPError(404, f"unknown model {name!r}; this server serves {model.info.name!r}")
        return model

    async def predict(self, state: Any, model: ServedModel, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for ``batch``; each answer is counted in the metrics and kept
        on ``state`` (the request's: its ``request_id`` is read) for the prediction log."""
        batch = np.atleast_1d(batch)  # a tensor of shape [] is refused by its shape, below
        if len(batch) > MAX_BATCH:
            raise BadInput(f"at most {MAX_BATCH} inputs per request, got {len(batch)}")
        probabilities = await self.batcher.predict(model, batch)
        names = model.info.class_names
        answers = [(names[index], float(row[index]))
                   for row, index in zip(probabilities, probabilities.argmax(axis=1))]  # fmt: skip
        # Inputs far outside [0, 1] overflow a layer. A NaN anywhere in a row is its argmax
        # (the first NaN), as an infinity is: the answers' confidences check every output.
        if not all(math.isfinite(confidence) for _, confidence in answers):
            raise BadInput(
                "the model's output is not a number for these inputs: send images scaled to "
                "[0, 1] as in training"
            )
        if self.keep_inputs is not None:  # named by the server: no client overwrites another's
            name = "".join(c for c in state.request_id if c.isalnum() or c in "-_")
            path = self.keep_inputs / f"{name}-{uuid.uuid4().hex[:12]}.npy"
            await run_in_threadpool(np.save, path, batch)
        for label, confidence in answers:
            self.metrics.confidence.observe(confidence)
            self._predicted(model.info.name, label).inc()
        state.model, state.answers = model, answers
        return probabilities

    def record(self, state: Any, endpoint: str, status: int, seconds: float) -> None:
        """Log one request: a row per answer, or one row for a refused request (it counts for
        the error rate). ``status`` is HTTP's, whatever the protocol."""
        if self.prediction_log is None:
            return
        answers = getattr(state, "answers", None)
        model: ServedModel = getattr(state, "model", None) or self.holder.current
        info = model.info
        # Rows in PREDICTION_FIELDS' order: model_name, model_sha256, request_id, endpoint,
        # status, latency_ms, created_at, label, confidence, study_name, trial_number.
        head = (info.name, info.sha256, state.request_id, endpoint, status, seconds * 1000.0,
                datetime.now(timezone.utc))  # fmt: skip
        tail = (info.study, info.trial)
        if answers and status < 400:
            rows = [(*head, label, confidence, *tail) for label, confidence in answers]
        else:
            rows = [(*head, None, None, *tail)]
        self.prediction_log.add(rows)

    def _predicted(self, model_name: str, label: str) -> Any:
        """The predictions counter of one model and class, looked up once."""
        key = (model_name, label)
        if key not in self._counters:
            self._counters[key] = self.metrics.predictions.labels(model_name, label)
        return self._counters[key]


__all__ = ["Endpoint", "Handler", "Service", "request_id"]
