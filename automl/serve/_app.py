"""The ASGI app: one module per protocol (``_v2``, ``_v1``, ``_predict``) over one
``Service``, joined here by the wrapper every request goes through (request id, token,
errors as JSON, metrics, the prediction log).

Every error is a JSON body with a 4xx (or 500) status; nothing a client sends can stop the
server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.routing import compile_path

from automl.serve import _predict, _v1, _v2
from automl.serve._batching import MicroBatcher
from automl.serve._holder import ModelHolder
from automl.serve._http import (
    LOOPBACK_HOSTS,
    MAX_BATCH,
    MAX_BODY_BYTES,
    OPEN_PATHS,
    Answer,
    HTTPError,
    HttpRequest,
    check_content_type,
    check_origin,
    check_token,
    json_answer,
    read_body,
)
from automl.serve._log import PredictionLog
from automl.serve._metrics import Metrics, exposition
from automl.serve._model import BadInput
from automl.serve._openapi import openapi_document
from automl.serve._service import Endpoint, Service, request_id

log = logging.getLogger("automl.serve")


def create_app(
    holder: ModelHolder,
    token: str | None = None,
    write_log: Callable[[Sequence[tuple]], None] | None = None,
    batch_window_ms: float = 0.0,
    keep_inputs: Path | None = None,
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
    prune_log: Callable[[], int] | None = None,
    grpc_address: str | None = None,
) -> App:
    """The ASGI app. ``token``: every request but probes and metrics needs
    ``Authorization: Bearer <token>``. ``write_log``: where the prediction log goes (the
    trial store's ``record_prediction_rows``), in batches from a background thread.
    ``batch_window_ms``: how long a request waits for others to share its model call.
    ``keep_inputs``: a folder where each answered request's inputs, as the model saw them, are
    saved as ``<request id>-<12 hex>.npy`` (opt-in: they may be personal data).
    ``allowed_hosts``: the Host names it answers to (``*``: any); unsafe requests from other
    web sites are refused whatever they are. ``prune_log``: deletes log entries past their
    retention (the writer calls it hourly). ``grpc_address``: ``host:port`` where the same
    service also answers v2 gRPC, from the app's startup to its shutdown."""
    metrics = Metrics.create()
    prediction_log = (
        PredictionLog(
            write_log,
            on_drop=metrics.log_dropped.inc,
            prune=prune_log,
            on_pending=metrics.log_pending.set,
        )
        if write_log
        else None
    )
    service = Service(
        holder, metrics, MicroBatcher(batch_window_ms, MAX_BATCH), keep_inputs, prediction_log
    )
    admission = service.admission

    def wrap(route: Endpoint) -> Callable[[HttpRequest], Awaitable[Answer]]:
        needs_token = bool(token) and not route.path.startswith(OPEN_PATHS)
        posted = route.method == "POST"

        async def wrapped(request: HttpRequest) -> Answer:
            started = time.perf_counter()
            state = request.state
            state.request_id = request_id(request.header.get("x-request-id"))
            body_size = 0
            try:
                check_origin(request, allowed_hosts)
                if needs_token:
                    check_token(request, token)
                if posted:  # received before it takes an answering slot
                    check_content_type(request, route.accepts)
                    limit = route.body_limit(request) if route.body_limit else MAX_BODY_BYTES
                    body_size = len(await read_body(request, limit, admission))
                with service.answering():
                    result = await route.handler(request)
                response = result if isinstance(result, Answer) else json_answer(result)
            except HTTPError as exc:
                response = json_answer({"error": str(exc)}, exc.status)
            except BadInput as exc:
                response = json_answer({"error": str(exc)}, 400)
            except ClientDisconnect:
                response = json_answer({"error": "client went away"}, 400)
            except Exception:  # a bug must not take the server down: log it, answer 500
                log.exception("error answering %s", request.scope["path"])
                response = json_answer({"error": "internal error (logged)"}, 500)
            finally:
                admission.release(body_size)
            seconds = time.perf_counter() - started
            status = response.status_code
            service.observe(route.path, status, seconds)
            if status == 401:
                response.add_header("WWW-Authenticate", "Bearer")
            response.add_header("X-Request-Id", state.request_id)
            if status == 408:  # the rest of a stalled body is not worth waiting for
                response.add_header("Connection", "close")
            logged = posted or hasattr(state, "answers")
            if logged and status != 401:  # a refused token is nobody's traffic: no row
                service.record(state, route.path, status, seconds)
            return response

        return wrapped

    async def metrics_text(request: HttpRequest) -> Answer:
        return Answer(exposition(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    endpoints = [*_v2.routes(service), *_v1.routes(service), *_predict.routes(service)]

    async def openapi(request: HttpRequest) -> dict:
        return openapi_document(holder.current.info, endpoints, token_required=bool(token))

    endpoints += [Endpoint("/metrics", metrics_text), Endpoint("/openapi.json", openapi)]

    grpc_server: list[Any] = []

    async def startup() -> None:
        if grpc_address is not None:  # imported only here: its messages fill protobuf's pool
            from automl.serve._grpc import start_grpc

            grpc_server.append(await start_grpc(service, grpc_address, token))

    async def shutdown() -> None:
        for server in grpc_server:
            await server.stop(grace=5)
        service.batcher.close()
        if prediction_log is not None:  # what is still buffered is written on the way out
            await run_in_threadpool(prediction_log.close)

    app = App([(e, wrap(e)) for e in endpoints], startup, shutdown)
    app.state.metrics = metrics
    app.state.prediction_log = prediction_log
    return app


class App:
    """The ASGI app: each request goes to the endpoint its path and method name, and the
    server's startup starts what answers beside it (gRPC) and its shutdown writes what the log
    still holds. (Starlette's application would wrap every
    request in two middleware layers and a router of its own on top of the wrapper every
    endpoint has here: BENCHMARKS.md, *Serving: the server's own cost*.)"""

    def __init__(
        self,
        routes: Sequence[tuple[Endpoint, Callable[[HttpRequest], Awaitable[Answer]]]],
        startup: Callable[[], Awaitable[None]],
        shutdown: Callable[[], Awaitable[None]],
    ) -> None:
        self._routes = [
            (compile_path(endpoint.path)[0], endpoint.method, handler)
            for endpoint, handler in routes
        ]
        self._startup, self._shutdown = startup, shutdown
        self.state = SimpleNamespace()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, allowed = scope["path"], False
        for pattern, method, handler in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if method != scope["method"]:
                allowed = True  # another method of this path
                continue
            scope["path_params"] = match.groupdict()
            response = await handler(HttpRequest(scope, receive))
            break
        else:
            response = (
                json_answer({"error": f"{scope['method']} is not allowed here"}, 405)
                if allowed
                else json_answer({"error": f"no such endpoint: {path}"}, 404)
            )
        await response(scope, receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._startup()
                except OSError as exc:  # uvicorn says why and exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


__all__ = ["create_app"]
