"""KServe's Open Inference Protocol v2 (REST): health, model metadata, readiness, infer."""

from __future__ import annotations

import importlib.metadata
import math
from typing import Any

from starlette.requests import Request

from automl.serve._http import JSON_TYPES, MAX_BATCH, json_body, numbers, numbers_body_limit
from automl.serve._model import BadInput
from automl.serve._service import Endpoint, Service

#: What ``GET /v2`` says of this server.
SERVER_NAME = "automl-serve"

#: The v2 metadata's ``platform`` for each model format.
PLATFORMS = {
    "onnx": "onnxruntime_onnx",
    "tflite": "tflite",
    "keras": "tensorflow_keras",
    "savedmodel": "tensorflow_savedmodel",
}


def server_version() -> str:
    try:
        return importlib.metadata.version("automl-cnn")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree not installed
        return "unknown"


def routes(service: Service) -> list[Endpoint]:
    holder = service.holder
    version = server_version()

    async def server_metadata(request: Request) -> dict:
        return {"name": SERVER_NAME, "version": version, "extensions": []}

    async def live(request: Request) -> dict:
        return {"live": True}

    async def ready(request: Request) -> dict:
        return {"ready": holder.ready}

    async def model_metadata(request: Request) -> dict:
        info = service.model_named(request.path_params["name"]).info
        return {
            "name": info.name,
            "versions": [info.version],
            "platform": PLATFORMS[info.format],
            "inputs": [{"name": "input", "datatype": "FP32", "shape": info.input_shape}],
            "outputs": [
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(info.class_names)]}
            ],
            "parameters": {"sha256": info.sha256, "class_names": list(info.class_names)},
        }

    async def model_ready(request: Request) -> dict:
        model = service.model_named(request.path_params["name"])
        return {"name": model.info.name, "ready": holder.ready}

    async def infer(request: Request) -> dict:
        model = service.model_named(request.path_params["name"])
        body = await json_body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise BadInput('"inputs" must be a list with one tensor')
        tensor = inputs[0]
        if tensor.get("datatype") != "FP32":
            raise BadInput(f'datatype must be "FP32", got {tensor.get("datatype")!r}')
        shape = tensor.get("shape")
        if not (
            isinstance(shape, list)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise BadInput('"shape" must be a list of non-negative integers')
        values = math.prod(shape)  # Python integers: no overflow, however large the sizes
        if values > MAX_BATCH * math.prod(model.info.input_shape[1:]):
            raise BadInput(f"at most {MAX_BATCH} inputs per request")
        data = numbers(tensor.get("data"))
        if data.size != values:
            raise BadInput(f"shape {shape} needs {values} values, got {data.size}")
        probabilities = await service.predict(request, model, data.reshape(shape))
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

    def infer_body_limit(request: Request) -> int:
        model = service.model_named(request.path_params["name"])
        return numbers_body_limit(math.prod(model.info.input_shape[1:]))

    return [
        Endpoint("/v2", server_metadata),
        Endpoint("/v2/health/live", live),
        Endpoint("/v2/health/ready", ready),
        Endpoint("/v2/models/{name}", model_metadata),
        Endpoint("/v2/models/{name}/ready", model_ready),
        Endpoint("/v2/models/{name}/infer", infer, "POST", JSON_TYPES, infer_body_limit),
    ]


__all__ = ["PLATFORMS", "SERVER_NAME", "routes", "server_version"]
