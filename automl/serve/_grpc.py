"""KServe's Open Inference Protocol v2 over gRPC (``inference.GRPCInferenceService``): health,
server and model metadata, readiness and infer, on a port of its own beside HTTP.

It runs on the HTTP server's event loop over the same ``Service``: one model, one batcher,
the same answering slots, bearer token, metrics and prediction log. The messages are the
protocol working group's own (``open-inference-grpc``); requests arrive as bytes and are parsed
here, so a malformed one is the client's error (INVALID_ARGUMENT), not the server's.

Statuses are counted and logged as HTTP's (``GRPC_STATUS`` maps them), so one query of
``automl_requests`` or of the prediction log covers both protocols.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import DecodeError
from open_inference.grpc import protocol as pb

from automl.serve._http import (
    BODY_TIMEOUT_S,
    MAX_BODY_BYTES,
    MAX_CONCURRENT_REQUESTS,
    HTTPError,
    check_bearer,
    deadline,
)
from automl.serve._model import BadInput
from automl.serve._service import Service, request_id
from automl.serve._v2 import (
    EXTENSIONS,
    OUTPUT,
    SERVER_NAME,
    model_metadata,
    server_version,
    tensor_values,
)

log = logging.getLogger("automl.serve")

SERVICE_NAME = "inference.GRPCInferenceService"
#: The gRPC status each HTTP status is sent as (gRPC's own mapping, read the other way).
GRPC_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
}
#: Methods anyone may call when a token is required (HTTP's health probes).
OPEN_METHODS = ("ServerLive", "ServerReady")
#: HTTP's limits, in gRPC's terms: messages up to 10 MB; a connection's HTTP/2 preface and
#: settings within 5 s (HTTP's head deadline); idle connections closed after 5 minutes, and
#: every connection after an hour (its calls get 30 s to finish), so none is held for ever;
#: peers that stop answering pings dropped; a client's pings closer than 10 s refused (gRPC's
#: own policy, which ends a connection that floods pings).
SERVER_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_BODY_BYTES),
    ("grpc.server_handshake_timeout_ms", 5_000),
    ("grpc.max_connection_idle_ms", 5 * 60 * 1000),
    ("grpc.max_connection_age_ms", 60 * 60 * 1000),
    ("grpc.max_connection_age_grace_ms", 30_000),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_concurrent_streams", 100),
)

#: One RPC: its request's bytes and state in, a message out (errors raised as HTTPError or
#: BadInput, as in the HTTP routes).
Handler = Callable[[bytes, SimpleNamespace], Awaitable[Any]]


def _parse(message: type, raw: bytes) -> Any:
    try:
        return message.FromString(raw)
    except DecodeError as exc:
        raise BadInput(f"malformed {message.__name__} message: {exc}") from None


def _input_batch(request: Any, service: Service) -> tuple[Any, np.ndarray, bool]:
    """(model, batch, whether the tensor came as raw bytes) of a ModelInferRequest."""
    model = service.model_named(request.model_name)
    if request.model_version and request.model_version != model.info.version:
        raise HTTPError(404, f"model {model.info.name!r} has no version {request.model_version!r}")
    if len(request.inputs) != 1:
        raise BadInput(f"this model takes one input tensor, got {len(request.inputs)}")
    tensor = request.inputs[0]
    shape = list(tensor.shape)
    values = tensor_values(tensor.datatype, shape, model.info)
    if request.raw_input_contents:
        if len(request.raw_input_contents) != 1 or tensor.HasField("contents"):
            raise BadInput("send the tensor either in raw_input_contents or in contents")
        raw = request.raw_input_contents[0]
        if len(raw) != values * 4:
            raise BadInput(f"{values} FP32 values are {values * 4} bytes, got {len(raw)}")
        data = np.frombuffer(raw, dtype="<f4")
    else:
        data = np.asarray(tensor.contents.fp32_contents, dtype=np.float32)
        if data.size != values:
            raise BadInput(f"shape {shape} needs {values} values, got {data.size}")
    for output in request.outputs:
        if output.name != OUTPUT:
            raise BadInput(f"unknown output {output.name!r}; this model has {OUTPUT!r}")
    return model, data.reshape(shape), bool(request.raw_input_contents)


def _handlers(service: Service) -> dict[str, Handler]:
    holder = service.holder
    version = server_version()

    async def server_live(raw: bytes, state: SimpleNamespace) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(raw: bytes, state: SimpleNamespace) -> Any:
        return pb.ServerReadyResponse(ready=holder.ready)

    async def server_metadata(raw: bytes, state: SimpleNamespace) -> Any:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=version, extensions=EXTENSIONS)

    async def model_ready(raw: bytes, state: SimpleNamespace) -> Any:
        request = _parse(pb.ModelReadyRequest, raw)
        service.model_named(request.name)
        return pb.ModelReadyResponse(ready=holder.ready)

    async def metadata(raw: bytes, state: SimpleNamespace) -> Any:
        request = _parse(pb.ModelMetadataRequest, raw)
        info = service.model_named(request.name).info
        described = model_metadata(info)
        return pb.ModelMetadataResponse(
            name=described["name"],
            versions=described["versions"],
            platform=described["platform"],
            inputs=described["inputs"],
            outputs=described["outputs"],
            properties={"sha256": info.sha256, "class_names": ",".join(info.class_names)},
        )

    async def infer(raw: bytes, state: SimpleNamespace) -> Any:
        request = _parse(pb.ModelInferRequest, raw)
        model, batch, as_raw = _input_batch(request, service)
        probabilities = await service.predict(state, model, batch)
        output = pb.ModelInferResponse.InferOutputTensor(
            name=OUTPUT, datatype="FP32", shape=probabilities.shape
        )
        response = pb.ModelInferResponse(
            model_name=model.info.name,
            model_version=model.info.version,
            id=request.id or state.request_id,
        )
        if as_raw:  # answered the way it asked: Triton's clients send and read raw bytes
            response.raw_output_contents.append(probabilities.astype("<f4").tobytes())
        else:
            output.contents.fp32_contents.extend(probabilities.ravel().tolist())
        response.outputs.append(output)
        return response

    return {
        "ServerLive": server_live,
        "ServerReady": server_ready,
        "ServerMetadata": server_metadata,
        "ModelReady": model_ready,
        "ModelMetadata": metadata,
        "ModelInfer": infer,
    }


def _rpc(name: str, handler: Handler, service: Service, token: str | None) -> Any:
    """``handler`` as a gRPC method: request id, token, answering slot, errors as statuses,
    metrics and the prediction log, as the HTTP app's wrapper does for its routes."""
    endpoint = f"/{SERVICE_NAME}/{name}"
    needs_token = token is not None and name not in OPEN_METHODS

    async def call(messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        started = time.perf_counter()
        metadata = dict(context.invocation_metadata() or ())
        state = SimpleNamespace(request_id=request_id(metadata.get("x-request-id")))
        reply, status, message = b"", 200, ""
        try:
            if needs_token:
                check_bearer(str(metadata.get("authorization", "")), token or "")
            raw = await _request_message(messages)
            with service.answering():
                reply = (await handler(raw, state)).SerializeToString()
        except HTTPError as exc:
            status, message = exc.status, str(exc)
        except BadInput as exc:
            status, message = 400, str(exc)
        except Exception:  # a bug must not take the server down: log it, answer INTERNAL
            log.exception("error answering %s", endpoint)
            status, message = 500, "internal error (logged)"
        seconds = time.perf_counter() - started
        service.observe(endpoint, status, seconds)
        if name == "ModelInfer" and status != 401:
            service.record(state, endpoint, status, seconds)
        context.set_trailing_metadata((("x-request-id", state.request_id),))
        if status != 200:
            await context.abort(GRPC_STATUS.get(status, grpc.StatusCode.UNKNOWN), message)
        return reply

    # A unary method on the wire, taken as a stream so that the call can wait for its message
    # under a deadline (a unary handler starts only once the message is in: a message trickled
    # a byte at a time held one of the server's calls for as long as its connection lasted).
    # Bytes in and out: parsed in ``call``.
    return grpc.stream_unary_rpc_method_handler(call)


async def _request_message(messages: AsyncIterator[bytes]) -> bytes:
    """A call's one request message, within BODY_TIMEOUT_S of its start (HTTP's deadline for a
    body), or HTTPError (408: DEADLINE_EXCEEDED)."""
    try:
        async with deadline(BODY_TIMEOUT_S):
            async for raw in messages:
                return raw
    except TimeoutError:
        raise HTTPError(408, f"request message not received within {BODY_TIMEOUT_S:g} s") from None
    raise BadInput("the call ended without a request message")


async def start_grpc(service: Service, address: str, token: str | None) -> grpc.aio.Server:
    """A gRPC server on ``address`` (``host:port``) over ``service``, started on the running
    event loop. Several worker processes may bind the same port (SO_REUSEPORT, gRPC's
    default on Linux); the kernel spreads connections among them."""
    server = grpc.aio.server(
        options=SERVER_OPTIONS, maximum_concurrent_rpcs=MAX_CONCURRENT_REQUESTS
    )
    methods = {
        name: _rpc(name, handler, service, token) for name, handler in _handlers(service).items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, methods),))
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:  # gRPC's "Failed to bind"
        bound = 0
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {address}: is the port taken?")
    await server.start()
    return server


__all__ = ["GRPC_STATUS", "OPEN_METHODS", "SERVICE_NAME", "start_grpc"]
