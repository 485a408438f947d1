"""What every protocol's routes share: the model being served, the batcher and the metrics.

A protocol module turns its requests into a batch and calls ``Service.predict``; the
service counts the answers and remembers them for the prediction log."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from automl.serve._batching import MicroBatcher
from automl.serve._holder import ModelHolder
from automl.serve._http import MAX_BATCH, HTTPError
from automl.serve._metrics import Metrics
from automl.serve._model import BadInput, ServedModel

#: A request handler: returns a Response or a JSON-able value.
Handler = Callable[[Request], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    """One route of a protocol. The app reads a POST's body before the handler runs, refused
    unless its media type is one of ``accepts`` (415) or past ``body_limit`` bytes (413)."""

    path: str
    handler: Handler
    method: str = "GET"
    accepts: tuple[str, ...] = ()
    body_limit: Callable[[Request], int] | None = None


@dataclass
class Service:
    holder: ModelHolder
    metrics: Metrics
    batcher: MicroBatcher
    #: Where each answered request's inputs are saved as ``<request id>.npy`` (opt-in).
    keep_inputs: Path | None = None
    _counters: dict[tuple[str, str], Any] = field(default_factory=dict)

    def model_named(self, name: str) -> ServedModel:
        model = self.holder.current
        if name != model.info.name:
            raise HTTPError(404, f"unknown model {name!r}; this server serves {model.info.name!r}")
        return model

    async def predict(self, request: Request, model: ServedModel, batch: np.ndarray) -> np.ndarray:
        """Class probabilities for ``batch``; each answer is counted in the metrics and kept
        on ``request.state`` for the prediction log."""
        batch = np.atleast_1d(batch)  # a tensor of shape [] is refused by its shape, below
        if len(batch) > MAX_BATCH:
            raise BadInput(f"at most {MAX_BATCH} inputs per request, got {len(batch)}")
        probabilities = await self.batcher.predict(model, batch)
        if not np.isfinite(probabilities).all():  # inputs far outside [0, 1] overflow a layer
            raise BadInput(
                "the model's output is not a number for these inputs: send images scaled to "
                "[0, 1] as in training"
            )
        if self.keep_inputs is not None:  # named by the server: no client overwrites another's
            name = "".join(c for c in request.state.request_id if c.isalnum() or c in "-_")
            path = self.keep_inputs / f"{name}-{uuid.uuid4().hex[:12]}.npy"
            await run_in_threadpool(np.save, path, batch)
        top = probabilities.argmax(axis=1)
        request.state.model, request.state.answers = model, []
        for row, index in zip(probabilities, top):
            label, confidence = model.info.class_names[index], float(row[index])
            self.metrics.confidence.observe(confidence)
            self._predicted(model.info.name, label).inc()
            request.state.answers.append((label, confidence))
        return probabilities

    def _predicted(self, model_name: str, label: str) -> Any:
        """The predictions counter of one model and class, looked up once."""
        key = (model_name, label)
        if key not in self._counters:
            self._counters[key] = self.metrics.predictions.labels(model_name, label)
        return self._counters[key]


__all__ = ["Endpoint", "Handler", "Service"]
