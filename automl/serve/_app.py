"""The HTTP face of a served model: thin Starlette routes over ``ModelHolder``.

Speaks KServe's Open Inference Protocol v2, TensorFlow Serving's REST API, a multipart
``/predict`` for people, and Prometheus ``/metrics``. Every error is a JSON body with a 4xx
(or 500) status; nothing a client sends can stop the server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from automl.serve._batching import MicroBatcher
from automl.serve._holder import ModelHolder
from automl.serve._log import PredictionLog
from automl.serve._model import BadInput, ServedModel
from storage import PredictionRecord

log = logging.getLogger("automl.serve")

#: Request bodies above this are refused with 413 (images for a small CNN are kilobytes).
MAX_BODY_BYTES = 10 * 1024 * 1024
#: A client that has not sent its whole body after this long gets 408.
BODY_TIMEOUT_S = 30.0
#: At most this many images or tensors in one request.
MAX_BATCH = 256
#: Paths anyone may call when a token is required (probes and scrapers carry no secrets).
OPEN_PATHS = ("/v2/health/", "/metrics")


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
            Gauge("automl_requests_in_flight", "Requests being answered", registry=registry),
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
                registry=registry,
            ),
        )  # fmt: skip


def create_app(
    holder: ModelHolder,
    token: str | None = None,
    write_log: Callable[[Sequence[PredictionRecord]], None] | None = None,
    batch_window_ms: float = 0.0,
    keep_inputs: Path | None = None,
) -> Starlette:
    """The ASGI app. ``token``: every request but probes and metrics needs
    ``Authorization: Bearer <token>``. ``write_log``: where the prediction log goes (the
    trial store's ``record_predictions``), in batches from a background thread.
    ``batch_window_ms``: how long a request waits for others to share its model call.
    ``keep_inputs``: a folder where each answered request's inputs, as the model saw them, are
    saved as ``<request id>.npy`` (opt-in: they may be personal data)."""
    metrics = Metrics.create()
    batcher = MicroBatcher(batch_window_ms, MAX_BATCH)
    prediction_log = (
        PredictionLog(write_log, on_drop=metrics.log_dropped.inc) if write_log else None
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

    def endpoint(
        template: str, handler: Callable[[Request], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            started = time.perf_counter()
            request.state.request_id = (request.headers.get("x-request-id") or uuid.uuid4().hex)[
                :64
            ]
            metrics.in_flight.inc()
            try:
                if token and not request.url.path.startswith(OPEN_PATHS):
                    _check_token(request, token)
                result = await handler(request)
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
                metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            metrics.duration.labels(template).observe(seconds)
            metrics.requests.labels(template, str(response.status_code)).inc()
            if response.status_code == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            response.headers["X-Request-Id"] = request.state.request_id
            if response.status_code != 401:  # nobody's traffic: not worth a row
                record(request, template, response.status_code, seconds)
            return response

        return wrapped

    def model_named(name: str) -> ServedModel:
        model = holder.current
        if name != model.info.name:
            raise HTTPError(404, f"unknown model {name!r}; this server serves {model.info.name!r}")
        return model

    async def predict(request: Request, model: ServedModel, batch: np.ndarray) -> np.ndarray:
        if len(batch) > MAX_BATCH:
            raise BadInput(f"at most {MAX_BATCH} inputs per request, got {len(batch)}")
        probabilities = await batcher.predict(model, batch)
        if keep_inputs is not None:
            name = "".join(c for c in request.state.request_id if c.isalnum() or c in "-_")
            await run_in_threadpool(np.save, keep_inputs / f"{name or uuid.uuid4().hex}.npy", batch)
        top = probabilities.argmax(axis=1)
        request.state.model, request.state.answers = model, []
        for row, index in zip(probabilities, top):
            label, confidence = model.info.class_names[index], float(row[index])
            metrics.confidence.observe(confidence)
            metrics.predictions.labels(model.info.name, label).inc()
            request.state.answers.append((label, confidence))
        return probabilities

    # ------------------------------------------------------------ Open Inference Protocol v2
    async def live(request: Request) -> dict:
        return {"live": True}

    async def ready(request: Request) -> dict:
        return {"ready": holder.ready}

    async def v2_model(request: Request) -> dict:
        info = model_named(request.path_params["name"]).info
        return {
            "name": info.name,
            "versions": [info.version],
            "platform": _PLATFORMS[info.format],
            "inputs": [{"name": "input", "datatype": "FP32", "shape": info.input_shape}],
            "outputs": [
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(info.class_names)]}
            ],
            "parameters": {"sha256": info.sha256, "class_names": list(info.class_names)},
        }

    async def v2_model_ready(request: Request) -> dict:
        model = model_named(request.path_params["name"])
        return {"name": model.info.name, "ready": holder.ready}

    async def v2_infer(request: Request) -> dict:
        model = model_named(request.path_params["name"])
        body = await _json_body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise BadInput('"inputs" must be a list with one tensor')
        tensor = inputs[0]
        if tensor.get("datatype") != "FP32":
            raise BadInput(f'datatype must be "FP32", got {tensor.get("datatype")!r}')
        shape = tensor.get("shape")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise BadInput('"shape" must be a list of non-negative integers')
        if int(np.prod(shape)) > MAX_BATCH * np.prod(model.info.input_shape[1:]):
            raise BadInput(f"at most {MAX_BATCH} inputs per request")
        data = _numbers(tensor.get("data"))
        if data.size != int(np.prod(shape)):
            raise BadInput(f"shape {shape} needs {int(np.prod(shape))} values, got {data.size}")
        probabilities = await predict(request, model, data.reshape(shape))
        response: dict[str, Any] = {
            "model_name": model.info.name,
            "model_version": model.info.version,
            "outputs": [
                {
                    "name": "probabilities",
                    "shape": list(probabilities.shape),
                    "datatype": "FP32",
                    "data": probabilities.ravel().tolist(),
                }
            ],
        }
        response["id"] = str(body.get("id") or request.state.request_id)
        return response

    # ------------------------------------------------------------ TensorFlow Serving REST
    async def v1_status(request: Request) -> dict:
        model = model_named(request.path_params["name"])
        state = "AVAILABLE" if holder.ready else "LOADING"
        return {
            "model_version_status": [
                {
                    "version": model.info.version,
                    "state": state,
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    async def v1_metadata(request: Request) -> dict:
        info = model_named(request.path_params["name"]).info
        tensor = {
            "dtype": "DT_FLOAT",
            "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in info.input_shape]},
            "name": "input",
        }
        output = {
            "dtype": "DT_FLOAT",
            "tensor_shape": {"dim": [{"size": "-1"}, {"size": str(len(info.class_names))}]},
            "name": "probabilities",
        }
        signature = {"inputs": {"input": tensor}, "outputs": {"probabilities": output},
                     "method_name": "tensorflow/serving/predict"}  # fmt: skip
        return {
            "model_spec": {"name": info.name, "signature_name": "", "version": info.version},
            "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
        }

    async def v1_predict(request: Request) -> dict:
        model = model_named(request.path_params["name"])
        body = await _json_body(request)
        if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
            raise BadInput('send either "instances" (row format) or "inputs" (columnar format)')
        rows = body.get("instances", body.get("inputs"))
        if isinstance(rows, dict):  # columnar with named inputs: this model has one
            if len(rows) != 1:
                raise BadInput("this model has one input")
            rows = next(iter(rows.values()))
        if not isinstance(rows, list) or not rows:
            raise BadInput("no inputs")
        if len(rows) > MAX_BATCH:
            raise BadInput(f"at most {MAX_BATCH} inputs per request, got {len(rows)}")
        items = [row.get("input", row) if isinstance(row, dict) and "b64" not in row else row
                 for row in rows]  # fmt: skip
        batch = await run_in_threadpool(_instances, model, items)
        probabilities = (await predict(request, model, batch)).tolist()
        return {"predictions": probabilities} if "instances" in body else {"outputs": probabilities}

    # ------------------------------------------------------------ people and scrapers
    async def predict_files(request: Request) -> dict:
        model = holder.current
        await _read_body(request)
        try:
            form = await request.form(max_files=MAX_BATCH, max_fields=MAX_BATCH)
        except Exception as exc:  # Starlette's MultiPartException and parser errors
            raise BadInput(f"send images as multipart/form-data: {exc}") from None
        files = [value for _, value in form.multi_items() if hasattr(value, "read")]
        if not files:
            raise BadInput('no image: send files as multipart/form-data fields named "image"')
        contents = [await file.read() for file in files]
        batch = await run_in_threadpool(lambda: np.stack([model.decode(c) for c in contents]))
        probabilities = await predict(request, model, batch)
        names = model.info.class_names
        return {
            "model": {"name": model.info.name, "study": model.info.study,
                      "trial": model.info.trial, "sha256": model.info.sha256},
            "predictions": [
                {
                    "file": file.filename,
                    "label": names[int(row.argmax())],
                    "probability": float(row.max()),
                    "probabilities": {n: float(p) for n, p in zip(names, row)},
                }
                for file, row in zip(files, probabilities)
            ],
        }  # fmt: skip

    async def metrics_text(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        ("/v2/health/live", live, "GET"),
        ("/v2/health/ready", ready, "GET"),
        ("/v2/models/{name}", v2_model, "GET"),
        ("/v2/models/{name}/ready", v2_model_ready, "GET"),
        ("/v2/models/{name}/infer", v2_infer, "POST"),
        ("/v1/models/{name}", v1_status, "GET"),
        ("/v1/models/{name}/metadata", v1_metadata, "GET"),
        ("/v1/models/{name}:predict", v1_predict, "POST"),
        ("/predict", predict_files, "POST"),
        ("/metrics", metrics_text, "GET"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        batcher.close()
        if prediction_log is not None:  # what is still buffered is written on the way out
            await run_in_threadpool(prediction_log.close)

    app = Starlette(
        routes=[Route(path, endpoint(path, fn), methods=[method]) for path, fn, method in routes],
        exception_handlers={404: _not_found, 405: _not_allowed},
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.prediction_log = prediction_log
    return app


_PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "tflite": "tflite",
    "keras": "tensorflow_keras",
    "savedmodel": "tensorflow_savedmodel",
}


async def _not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no such endpoint: {request.url.path}"}, status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed here"}, status_code=405)


def _check_token(request: Request, token: str) -> None:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        raise HTTPError(401, "missing or wrong bearer token")


async def _read_body(request: Request) -> bytes:
    """The whole body, refused past MAX_BODY_BYTES (413) or BODY_TIMEOUT_S (408). Starlette
    keeps it, so ``request.form()`` reads it from memory afterwards."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPError(413, f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB")

    async def receive_all() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise HTTPError(413, f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        body = await asyncio.wait_for(receive_all(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise HTTPError(408, f"request body not received within {BODY_TIMEOUT_S:g} s") from None
    request._body = body  # Starlette's own cache of the body, which form() reads
    return body


async def _json_body(request: Request) -> Any:
    body = await _read_body(request)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"malformed JSON: {exc}") from None


def _numbers(data: Any) -> np.ndarray:
    try:
        array = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError):
        raise BadInput('"data" must be numbers (flat or nested lists)') from None
    if array.dtype != np.float32 or data is None or isinstance(data, (str, bytes)):
        raise BadInput('"data" must be numbers (flat or nested lists)')
    return array.ravel()


def _instances(model: ServedModel, rows: list[Any]) -> np.ndarray:
    """TF Serving instances: nested numbers, or ``{"b64": "<image file, base64>"}``."""
    decoded = []
    for row in rows:
        if isinstance(row, dict) and "b64" in row:
            try:
                data = base64.b64decode(row["b64"], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise BadInput('"b64" is not valid base64') from None
            decoded.append(model.decode(data))
        else:
            decoded.append(_numbers(row).reshape(-1) if row is not None else None)
    if all(isinstance(row, np.ndarray) and row.ndim == 3 for row in decoded):
        return np.stack(decoded)
    info = model.info
    size = info.height * info.width * info.channels
    flat = []
    for row in decoded:
        if row is None or row.size != size:
            raise BadInput(
                f"each instance must be {info.height}x{info.width}x{info.channels} numbers "
                'or an image as {"b64": ...}'
            )
        flat.append(row.reshape(info.height, info.width, info.channels))
    return np.stack(flat)


__all__ = ["MAX_BATCH", "MAX_BODY_BYTES", "Metrics", "create_app"]
