"""The ASGI app: one module per protocol (``_v2``, ``_v1``, ``_predict``) over one
``Service``, joined here by the wrapper every request goes through (request id, token,
errors as JSON, metrics, the prediction log).

Every error is a JSON body with a 4xx (or 500) status; nothing a client sends can stop the
server.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from automl.serve import _predict, _v1, _v2
from automl.serve._batching import MicroBatcher
from automl.serve._holder import ModelHolder
from automl.serve._http import (
    LOOPBACK_HOSTS,
    MAX_BATCH,
    MAX_BODY_BYTES,
    OPEN_PATHS,
    Admission,
    HTTPError,
    check_content_type,
    check_origin,
    check_token,
    not_allowed,
    not_found,
    read_body,
)
from automl.serve._log import PredictionLog
from automl.serve._metrics import Metrics
from automl.serve._model import BadInput, ServedModel
from automl.serve._openapi import openapi_document
from automl.serve._service import Endpoint, Service
from storage import PredictionRecord

log = logging.getLogger("automl.serve")


def create_app(
    holder: ModelHolder,
    token: str | None = None,
    write_log: Callable[[Sequence[PredictionRecord]], None] | None = None,
    batch_window_ms: float = 0.0,
    keep_inputs: Path | None = None,
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
    prune_log: Callable[[], int] | None = None,
) -> Starlette:
    """The ASGI app. ``token``: every request but probes and metrics needs
    ``Authorization: Bearer <token>``. ``write_log``: where the prediction log goes (the
    trial store's ``record_predictions``), in batches from a background thread.
    ``batch_window_ms``: how long a request waits for others to share its model call.
    ``keep_inputs``: a folder where each answered request's inputs, as the model saw them, are
    saved as ``<request id>-<12 hex>.npy`` (opt-in: they may be personal data).
    ``allowed_hosts``: the Host names it answers to (``*``: any); unsafe requests from other
    web sites are refused whatever they are. ``prune_log``: deletes log entries past their
    retention (the writer calls it hourly)."""
    metrics = Metrics.create()
    service = Service(holder, metrics, MicroBatcher(batch_window_ms, MAX_BATCH), keep_inputs)
    prediction_log = (
        PredictionLog(write_log, on_drop=metrics.log_dropped.inc, prune=prune_log)
        if write_log
        else None
    )
    if prediction_log is not None:
        metrics.log_pending.set_function(lambda: prediction_log.pending)

    def record(request: Request, template: str, status: int, seconds: float) -> None:
        answers = getattr(request.state, "answers", None)
        if prediction_log is None or (answers is None and request.method != "POST"):
            return
        model: ServedModel = getattr(request.state, "model", None) or holder.current
        info = model.info
        common = dict(
            model_name=info.name, model_sha256=info.sha256, study_name=info.study,
            trial_number=info.trial, request_id=request.state.request_id, endpoint=template,
            status=status, latency_ms=seconds * 1000.0, created_at=datetime.now(timezone.utc),
        )  # fmt: skip
        if answers and status < 400:
            entries = [PredictionRecord(**common, label=label, confidence=confidence)
                       for label, confidence in answers]  # fmt: skip
        else:
            entries = [PredictionRecord(**common)]  # a refused request counts for the error rate
        prediction_log.add(entries)

    admission = Admission()

    def wrap(route: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            request.state.request_id = (request.headers.get("x-request-id") or uuid.uuid4().hex)[
                :64
            ]
            body_size = 0
            try:
                check_origin(request, allowed_hosts)
                if token and not request.url.path.startswith(OPEN_PATHS):
                    check_token(request, token)
                if route.method == "POST":  # received before it takes an answering slot
                    check_content_type(request, route.accepts)
                    limit = route.body_limit(request) if route.body_limit else MAX_BODY_BYTES
                    body_size = len(await read_body(request, limit, admission))
                with admission.slot():
                    metrics.in_flight.inc()
                    try:
                        result = await route.handler(request)
                    finally:
                        metrics.in_flight.dec()
                response = result if isinstance(result, Response) else JSONResponse(result)
            except HTTPError as exc:
                response = JSONResponse({"error": str(exc)}, status_code=exc.status)
            except BadInput as exc:
                response = JSONResponse({"error": str(exc)}, status_code=400)
            except ClientDisconnect:
                response = JSONResponse({"error": "client went away"}, status_code=400)
            except Exception:  # a bug must not take the server down: log it, answer 500
                log.exception("error answering %s", request.url.path)
                response = JSONResponse({"error": "internal error (logged)"}, status_code=500)
            finally:
                admission.release(body_size)
            seconds = time.perf_counter() - started
            metrics.duration.labels(route.path).observe(seconds)
            metrics.requests.labels(route.path, str(response.status_code)).inc()
            if response.status_code == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            response.headers["X-Request-Id"] = request.state.request_id
            if response.status_code == 408:  # the rest of a stalled body is not worth waiting for
                response.headers["Connection"] = "close"
            if response.status_code != 401:  # nobody's traffic: not worth a row
                record(request, route.path, response.status_code, seconds)
            return response

        return wrapped

    async def metrics_text(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    endpoints = [*_v2.routes(service), *_v1.routes(service), *_predict.routes(service)]

    async def openapi(request: Request) -> dict:
        return openapi_document(holder.current.info, endpoints, token_required=bool(token))

    endpoints += [Endpoint("/metrics", metrics_text), Endpoint("/openapi.json", openapi)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.batcher.close()
        if prediction_log is not None:  # what is still buffered is written on the way out
            await run_in_threadpool(prediction_log.close)

    app = Starlette(
        routes=[Route(e.path, wrap(e), methods=[e.method]) for e in endpoints],
        exception_handlers={404: not_found, 405: not_allowed},
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.prediction_log = prediction_log
    return app


__all__ = ["create_app"]
