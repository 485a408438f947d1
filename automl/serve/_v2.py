"""KServe's Open Inference Protocol v2 (REST): server metadata, health, model metadata,
readiness, infer, with tensors as JSON or as binary data (the ``binary_tensor_data``
extension: what Triton's clients send and ask for by default)."""

from __future__ import annotations

import importlib.metadata
import math
from typing import Any

import numpy as np
import orjson

from automl.serve._http import (
    JSON_TYPES,
    MAX_BATCH,
    Answer,
    HttpRequest,
    numbers,
    numbers_body_limit,
    parse_json,
)
from automl.serve._model import BadInput, ModelInfo
from automl.serve._service import Endpoint, Service

#: What ``GET /v2`` says of this server.
SERVER_NAME = "automl-serve"
#: The protocol's extensions it implements (the names KServe and Triton use).
EXTENSIONS = ("binary_tensor_data",)
#: The binary tensor extension: a body of a JSON header this long, then the tensors' bytes.
HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_TYPE = "application/octet-stream"
#: The model's one input tensor and one output tensor.
INPUT = "input"
OUTPUT = "probabilities"

#: The v2 metadata's ``platform`` for each model format.
PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "tflite": "tflite",
    "keras": "tensorflow_keras",
    "savedmodel": "tensorflow_savedmodel",
}


def _split_binary(request: HttpRequest, body: bytes) -> tuple[bytes, bytes]:
    """(JSON header, binary tensor data) of a request body."""
    declared = request.header.get(HEADER_LENGTH.lower())
    if declared is None:
        return body, b""
    if not declared.isdigit() or int(declared) > len(body):
        raise BadInput(f"{HEADER_LENGTH} must be a length within the body, got {declared!r}")
    return body[: int(declared)], body[int(declared) :]


def _binary_tensor(tensor: dict, binary: bytes, values: int) -> np.ndarray | None:
    """The tensor's values from the binary data (little-endian FP32), or None when it carries
    them as JSON ``data``."""
    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        if binary:
            raise BadInput("binary data was sent but no input says its binary_data_size")
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
        raise BadInput(f"binary_data_size {size!r} does not match the {len(binary)} bytes sent")
    if size != values * 4:
        raise BadInput(f"{values} FP32 values are {values * 4} bytes, got {size}")
    return np.frombuffer(binary, dtype="<f4").astype(np.float32)


def _binary_output(body: dict) -> bool:
    """Whether the answer's tensor goes as binary data: asked for the whole request
    (``binary_data_output``, what Triton's clients send by default) or for the output."""
    parameters = body.get("parameters")
    wanted = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    outputs = body.get("outputs")
    if outputs is None:
        return wanted
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise BadInput('"outputs" must be a list of objects')
    for requested in outputs:
        if requested.get("name") != OUTPUT:
            raise BadInput(f"unknown output {requested.get('name')!r}; this model has {OUTPUT!r}")
        parameters = requested.get("parameters")
        if isinstance(parameters, dict) and "binary_data" in parameters:
            wanted = parameters["binary_data"] is True
    return wanted


def server_version() -> str:
    try:
        return importlib.metadata.version("automl-cnn")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree not installed
        return "unknown"


def model_metadata(info: ModelInfo) -> dict:
    """The v2 model metadata (REST's JSON; gRPC's message has the same fields)."""
    return {
        "name": info.name,
        "versions": [info.version],
        "platform": PLATFORMS[info.format],
        "inputs": [{"name": INPUT, "datatype": "FP32", "shape": info.input_shape}],
        "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, len(info.class_names)]}],
        "parameters": {"sha256": info.sha256, "class_names": list(info.class_names)},
    }


def tensor_values(datatype: object, shape: object, info: ModelInfo) -> int:
    """How many values an input tensor of ``shape`` holds, or BadInput: FP32 only, and no
    more than MAX_BATCH of the model's inputs."""
    if datatype != "FP32":
        raise BadInput(f'datatype must be "FP32", got {datatype!r}')
    if not (
        isinstance(shape, list)
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise BadInput('"shape" must be a list of non-negative integers')
    values = math.prod(shape)  # Python integers: no overflow, however large the sizes
    if values > MAX_BATCH * math.prod(info.input_shape[1:]):
        raise BadInput(f"at most {MAX_BATCH} inputs per request")
    return values


def routes(service: Service) -> list[Endpoint]:
    holder = service.holder
    version = server_version()

    async def server_metadata(request: HttpRequest) -> dict:
        return {"name": SERVER_NAME, "version": version, "extensions": list(EXTENSIONS)}

    async def live(request: HttpRequest) -> dict:
        return {"live": True}

    async def ready(request: HttpRequest) -> dict:
        return {"ready": holder.ready}

    async def metadata(request: HttpRequest) -> dict:
        return model_metadata(service.model_named(request.path_params["name"]).info)

    async def model_ready(request: HttpRequest) -> dict:
        model = service.model_named(request.path_params["name"])
        return {"name": model.info.name, "ready": holder.ready}

    async def infer(request: HttpRequest) -> Answer | dict:
        model = service.model_named(request.path_params["name"])
        header, binary = _split_binary(request, await request.body())
        body = await parse_json(header)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise BadInput('"inputs" must be a list with one tensor')
        tensor = inputs[0]
        shape = tensor.get("shape")
        values = tensor_values(tensor.get("datatype"), shape, model.info)
        data = _binary_tensor(tensor, binary, values)
        if data is None:
            data = numbers(tensor.get("data"))
        if data.size != values:
            raise BadInput(f"shape {shape} needs {values} values, got {data.size}")
        as_binary = _binary_output(body)
        probabilities = await service.predict(request.state, model, data.reshape(shape))
        output: dict[str, Any] = {
            "name": OUTPUT,
            "shape": list(probabilities.shape),
            "datatype": "FP32",
        }
        raw = probabilities.astype("<f4").tobytes()
        if as_binary:
            output["parameters"] = {"binary_data_size": len(raw)}
        else:
            output["data"] = probabilities.ravel().tolist()
        response: dict[str, Any] = {
            "model_name": model.info.name,
            "model_version": model.info.version,
            "id": str(body.get("id") or request.state.request_id),
            "outputs": [output],
        }
        if not as_binary:
            return response
        text = orjson.dumps(response)
        answer = Answer(text + raw, media_type=BINARY_TYPE)
        answer.add_header(HEADER_LENGTH, str(len(text)))
        return answer

    def infer_body_limit(request: HttpRequest) -> int:
        model = service.model_named(request.path_params["name"])
        return numbers_body_limit(math.prod(model.info.input_shape[1:]))

    return [
        Endpoint("/v2", server_metadata),
        Endpoint("/v2/health/live", live),
        Endpoint("/v2/health/ready", ready),
        Endpoint("/v2/models/{name}", metadata),
        Endpoint("/v2/models/{name}/ready", model_ready),
        Endpoint(
            "/v2/models/{name}/infer", infer, "POST", (*JSON_TYPES, BINARY_TYPE), infer_body_limit
        ),
    ]


__all__ = [
    "BINARY_TYPE",
    "EXTENSIONS",
    "HEADER_LENGTH",
    "INPUT",
    "OUTPUT",
    "PLATFORMS",
    "SERVER_NAME",
    "model_metadata",
    "routes",
    "server_version",
    "tensor_values",
]
