"""v2 gRPC (``inference.GRPCInferenceService``) beside HTTP on a real server on loopback: the
spec's own messages (``open-inference-grpc``) and Triton's own gRPC client get the same answers
as the JSON API, under the same token, limits, metrics and prediction log."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import grpc
import numpy as np
import pytest
from open_inference.grpc import protocol as pb
from open_inference.grpc import service as pb_service

from automl.serve import ModelHolder, create_app
from storage import TrialStore
from tests.automl.serve.conftest import (
    AUTH,
    CLASSES,
    TOKEN,
    json_answer,
    linear_model,
    start_server,
)

TOKEN_METADATA = (("authorization", f"Bearer {TOKEN}"),)
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class GrpcServer:
    url: str
    address: str
    store: TrialStore
    app: object
    channel: grpc.Channel
    stub: pb_service.GRPCInferenceServiceStub


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrpcServer]:
    store = TrialStore(f"sqlite:///{tmp_path_factory.mktemp('grpc') / 'automl.db'}")
    address = f"127.0.0.1:{free_port()}"
    app = create_app(ModelHolder(linear_model()), TOKEN, store.record_prediction_rows,
                     grpc_address=address)  # fmt: skip
    url, server, thread = start_server(app)
    channel = grpc.insecure_channel(address)
    stub = pb_service.GRPCInferenceServiceStub(channel)
    yield GrpcServer(url, address, store, app, channel, stub)
    channel.close()
    server.should_exit = True
    thread.join(timeout=10)


def _images(count: int = 5) -> np.ndarray:
    return np.random.default_rng(1).random((count, 8, 8, 1), dtype=np.float32)


def _infer_request(images: np.ndarray, raw: bool = True, **fields) -> pb.ModelInferRequest:
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="input", datatype="FP32", shape=images.shape
    )
    request = pb.ModelInferRequest(**{"model_name": "shapes", **fields})
    if raw:
        request.raw_input_contents.append(images.astype("<f4").tobytes())
    else:
        tensor.contents.fp32_contents.extend(images.ravel().tolist())
    request.inputs.append(tensor)
    return request


def test_health_metadata_and_readiness(grpc_server: GrpcServer) -> None:
    stub = grpc_server.stub
    assert stub.ServerLive(pb.ServerLiveRequest()).live  # probes need no token
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    server = stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=TOKEN_METADATA)
    assert server.name == "automl-serve" and server.version
    assert stub.ModelReady(pb.ModelReadyRequest(name="shapes"), metadata=TOKEN_METADATA).ready
    metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name="shapes"), metadata=TOKEN_METADATA)
    assert (metadata.name, list(metadata.versions)) == ("shapes", ["1"])
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("input", "FP32", [-1, 8, 8, 1])
    ]
    assert list(metadata.outputs[0].shape) == [-1, len(CLASSES)]
    assert metadata.properties["class_names"] == ",".join(CLASSES)


@pytest.mark.parametrize("raw", [True, False], ids=["raw bytes", "fp32_contents"])
def test_infer_agrees_with_the_json_api(grpc_server: GrpcServer, raw: bool) -> None:
    images = _images()
    reply, call = grpc_server.stub.ModelInfer.with_call(
        _infer_request(images, raw, id="my-id"), metadata=TOKEN_METADATA
    )
    (output,) = reply.outputs
    assert (reply.model_name, reply.model_version, reply.id) == ("shapes", "1", "my-id")
    assert (output.name, output.datatype, list(output.shape)) == ("probabilities", "FP32", [5, 3])
    if raw:  # answered as asked
        got = np.frombuffer(reply.raw_output_contents[0], dtype="<f4").reshape(5, 3)
    else:
        assert not reply.raw_output_contents
        got = np.asarray(output.contents.fp32_contents, dtype=np.float32).reshape(5, 3)
    np.testing.assert_allclose(got, json_answer(grpc_server.url, images), rtol=1e-6)
    assert dict(call.trailing_metadata())["x-request-id"]


def _refused(stub, request, metadata=TOKEN_METADATA, method: str = "ModelInfer") -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        getattr(stub, method)(request, metadata=metadata)
    return refused.value


def test_bad_requests_are_the_clients_error(grpc_server: GrpcServer) -> None:
    stub, images = grpc_server.stub, _images(2)
    cases = [
        (_infer_request(images, model_name="other"), grpc.StatusCode.NOT_FOUND, "unknown model"),
        (_infer_request(images, model_version="7"), grpc.StatusCode.NOT_FOUND, "no version"),
        (pb.ModelInferRequest(model_name="shapes"), grpc.StatusCode.INVALID_ARGUMENT, "one input"),
    ]
    wrong_size = _infer_request(images)
    wrong_size.raw_input_contents[0] = b"\0" * 12
    cases.append((wrong_size, grpc.StatusCode.INVALID_ARGUMENT, "bytes"))
    wrong_type = _infer_request(images)
    wrong_type.inputs[0].datatype = "INT8"
    cases.append((wrong_type, grpc.StatusCode.INVALID_ARGUMENT, "FP32"))
    negative = _infer_request(images)
    negative.inputs[0].shape[0] = -2
    cases.append((negative, grpc.StatusCode.INVALID_ARGUMENT, "non-negative"))
    huge = _infer_request(images)
    huge.inputs[0].shape[:] = [2**40, 8, 8, 1]  # claims what it does not send
    cases.append((huge, grpc.StatusCode.INVALID_ARGUMENT, "at most"))
    too_few = _infer_request(images, raw=False)
    del too_few.inputs[0].contents.fp32_contents[-1]
    cases.append((too_few, grpc.StatusCode.INVALID_ARGUMENT, "needs 128 values"))
    both = _infer_request(images)
    both.inputs[0].contents.fp32_contents.append(1.0)
    cases.append((both, grpc.StatusCode.INVALID_ARGUMENT, "either"))
    other_output = _infer_request(images)
    other_output.outputs.add(name="logits")
    cases.append((other_output, grpc.StatusCode.INVALID_ARGUMENT, "unknown output"))
    for request, code, message in cases:
        error = _refused(stub, request)
        assert error.code() == code and message in error.details(), (code, error.details())
    # not a message at all: the client's error, not the server's
    garbage = grpc_server.channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    with pytest.raises(grpc.RpcError) as refused:
        garbage(b"\xff\xff\xff\xff", metadata=TOKEN_METADATA)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed" in refused.value.details()
    assert stub.ServerLive(pb.ServerLiveRequest()).live  # still serving


def test_token_message_size_metrics_and_log(grpc_server: GrpcServer) -> None:
    stub, images = grpc_server.stub, _images(3)
    for metadata in [(), (("authorization", "Bearer wrong-token-of-some-length"),)]:
        error = _refused(stub, _infer_request(images), metadata)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    metadata_call = _refused(stub, pb.ServerMetadataRequest(), (), "ServerMetadata")
    assert metadata_call.code() == grpc.StatusCode.UNAUTHENTICATED
    oversized = _infer_request(images)
    oversized.raw_input_contents[0] = b"\0" * (11 * 1024 * 1024)  # past the 10 MB bodies of HTTP
    assert _refused(stub, oversized).code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    stub.ModelInfer(_infer_request(images), metadata=(*TOKEN_METADATA, ("x-request-id", "g-1")))
    with urllib.request.urlopen(
        urllib.request.Request(f"{grpc_server.url}/metrics", headers=AUTH), timeout=10
    ) as reply:
        text = reply.read().decode()
    endpoint = "/inference.GRPCInferenceService/ModelInfer"
    assert f'automl_requests_total{{endpoint="{endpoint}",status="200"}}' in text
    assert f'automl_requests_total{{endpoint="{endpoint}",status="401"}}' in text
    assert grpc_server.app.state.prediction_log.flush()  # type: ignore[attr-defined]
    logged = grpc_server.store.predictions("shapes", datetime(2000, 1, 1, tzinfo=timezone.utc))
    mine = [r for r in logged if r.request_id == "g-1"]
    assert len(mine) == 3 and {r.endpoint for r in mine} == {endpoint}
    assert all(r.status == 200 and r.label in CLASSES for r in mine)
    assert not [r for r in logged if r.endpoint == endpoint and r.status == 401]  # nobody's


def test_a_message_that_never_comes_ends_its_call_in_time(
    grpc_server: GrpcServer, monkeypatch
) -> None:
    """A call whose request message does not arrive is ended at HTTP's body deadline (here
    1 s), freeing its place among the server's calls; one that ends without a message is the
    client's error."""
    from automl.serve import _grpc

    monkeypatch.setattr(_grpc, "BODY_TIMEOUT_S", 1.0)
    method = "/inference.GRPCInferenceService/ModelInfer"
    hold = threading.Event()

    def never():  # the message a slow client is still sending
        hold.wait(30)
        yield b""

    call = grpc_server.channel.stream_unary(method)
    started = time.monotonic()
    try:
        with pytest.raises(grpc.RpcError) as refused:
            call(never(), metadata=TOKEN_METADATA, timeout=20)
    finally:
        hold.set()
    assert refused.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "not received within 1 s" in refused.value.details()
    assert time.monotonic() - started < 10
    with pytest.raises(grpc.RpcError) as empty:
        call(iter(()), metadata=TOKEN_METADATA, timeout=20)
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_server.stub.ModelInfer(_infer_request(_images(1)), metadata=TOKEN_METADATA)


def test_triton_grpc_client_gets_the_json_apis_answers(
    grpc_server: GrpcServer, tmp_path: Path
) -> None:
    images = _images(4)
    np.save(tmp_path / "images.npy", images)
    done = subprocess.run(
        [sys.executable, "-m", "tests.automl.serve.triton_grpc_client", grpc_server.address,
         TOKEN, str(tmp_path / "images.npy"), "shapes"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["live"] and answer["ready"] and answer["model_ready"]
    assert answer["server"]["name"] == "automl-serve"
    assert answer["inputs"] == [
        {"name": "input", "datatype": "FP32", "shape": ["-1", "8", "8", "1"]}
    ]
    np.testing.assert_allclose(
        np.asarray(answer["probabilities"], dtype=np.float32),
        json_answer(grpc_server.url, images),
        rtol=1e-6,
    )
    assert answer["without_token"]["status"] == "StatusCode.UNAUTHENTICATED"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_taken_grpc_port_fails_the_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        app = create_app(ModelHolder(linear_model()), grpc_address=address)
        with pytest.raises(AssertionError, match="did not start"):
            start_server(app, timeout=5)
