"""TensorFlow Serving's REST API: model status, metadata and ``:predict`` (row or columnar
format, images as ``{"b64": ...}``)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from automl.serve._http import JSON_TYPES, MAX_BATCH, HttpRequest, json_body, numbers
from automl.serve._model import BadInput, ServedModel
from automl.serve._service import Endpoint, Service


def routes(service: Service) -> list[Endpoint]:
    holder = service.holder

    async def status(request: HttpRequest) -> dict:
        model = service.model_named(request.path_params["name"])
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

    async def metadata(request: HttpRequest) -> dict:
        info = service.model_named(request.path_params["name"]).info
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

    async def predict(request: HttpRequest) -> dict:
        model = service.model_named(request.path_params["name"])
        body = await json_body(request)
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
        batch = await run_in_threadpool(instances, model, items)
        probabilities = (await service.predict(request.state, model, batch)).tolist()
        return {"predictions": probabilities} if "instances" in body else {"outputs": probabilities}

    return [
        Endpoint("/v1/models/{name}", status),
        Endpoint("/v1/models/{name}/metadata", metadata),
        Endpoint("/v1/models/{name}:predict", predict, "POST", JSON_TYPES),
    ]


def instances(model: ServedModel, rows: list[Any]) -> np.ndarray:
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
            decoded.append(numbers(row).reshape(-1) if row is not None else None)
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


__all__ = ["instances", "routes"]
