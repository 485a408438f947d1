"""The servers' OpenAPI 3.1 document (``GET /openapi.json``): every endpoint, the bodies it
takes and every answer it can give, errors included, for the model being served. Clients
generate code from it, and the fuzzer in the tests holds the server to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from automl.serve._http import FORM_TYPES, MAX_BATCH, OPEN_PATHS
from automl.serve._model import ModelInfo
from automl.serve._service import Endpoint

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}

#: Why each error status is answered (see ``_http``).
ERRORS = {
    "400": "Malformed input: not JSON, not the tensor or image the model takes",
    "401": "Missing or wrong bearer token",
    "403": "An unsafe request sent by a web page on another site",
    "404": "No such model on this server",
    "408": "The body did not arrive in time",
    "413": "The body is over the endpoint's limit",
    "415": "A media type the endpoint does not take",
    "421": "A Host name this server does not answer to",
    "503": "Too busy: try again shortly",
}

NUMBERS = {"type": "array", "items": {}}  # numbers, nested to any depth
BOOLEAN_FIELD = {"type": "boolean"}


def _object(required: Sequence[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


def _schemas(info: ModelInfo) -> dict[str, tuple[str, dict[str, Any]]]:
    """(summary, 200 body) for each GET endpoint, by path."""
    tensor = _object(
        ["name", "datatype", "shape"],
        name={"type": "string"}, datatype={"type": "string"},
        shape={"type": "array", "items": {"type": "integer"}},
    )  # fmt: skip
    return {
        "/v2": ("Server metadata (v2)", _object(
            ["name", "version", "extensions"], name={"type": "string"},
            version={"type": "string"},
            extensions={"type": "array", "items": {"type": "string"}},
        )),
        "/v2/health/live": ("Liveness (v2)", _object(["live"], live=BOOLEAN_FIELD)),
        "/v2/health/ready": ("Readiness (v2)", _object(["ready"], ready=BOOLEAN_FIELD)),
        "/v2/models/{name}": ("Model metadata (v2)", _object(
            ["name", "versions", "platform", "inputs", "outputs"], name={"type": "string"},
            versions={"type": "array", "items": {"type": "string"}},
            platform={"type": "string"},
            inputs={"type": "array", "items": tensor},
            outputs={"type": "array", "items": tensor},
            parameters={"type": "object"},
        )),
        "/v2/models/{name}/ready": ("Model readiness (v2)", _object(
            ["name", "ready"], name={"type": "string"}, ready=BOOLEAN_FIELD
        )),
        "/v1/models/{name}": ("Model status (TensorFlow Serving)", _object(
            ["model_version_status"],
            model_version_status={"type": "array", "items": {"type": "object"}},
        )),
        "/v1/models/{name}/metadata": ("Model metadata (TensorFlow Serving)", _object(
            ["model_spec", "metadata"], model_spec={"type": "object"},
            metadata={"type": "object"},
        )),
        "/openapi.json": ("This document", {"type": "object"}),
    }  # fmt: skip


def _posts(info: ModelInfo) -> dict[str, tuple[str, str, dict[str, Any], Any, dict[str, Any]]]:
    """(summary, media type, body schema, body example, 200 body) for each POST endpoint."""
    values = info.height * info.width * info.channels
    shape = [1, info.height, info.width, info.channels]
    probabilities = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    infer_request = _object(
        ["inputs"],
        id={"type": "string"},
        parameters={"type": "object"},
        inputs={
            "type": "array", "minItems": 1, "maxItems": 1,
            "items": _object(
                ["name", "shape", "datatype", "data"],
                name={"type": "string"},
                shape={"type": "array", "items": {"type": "integer", "minimum": 0}},
                datatype={"const": "FP32"},
                parameters={"type": "object"},
                data=NUMBERS,
            ),
        },
        outputs={"type": "array", "items": {"type": "object"}},
    )  # fmt: skip
    infer_response = _object(
        ["model_name", "outputs"],
        model_name={"type": "string"}, model_version={"type": "string"},
        id={"type": "string"},
        outputs={"type": "array", "items": _object(
            ["name", "shape", "datatype", "data"], name={"type": "string"},
            shape={"type": "array", "items": {"type": "integer"}},
            datatype={"const": "FP32"},
            data={"type": "array", "items": {"type": "number"}},
        )},
    )  # fmt: skip
    instance = {"anyOf": [NUMBERS, _object(["b64"], b64={"type": "string"})]}
    rows = {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": instance}
    predict_request = {
        "oneOf": [
            _object(["instances"], instances=rows),
            _object(["inputs"], inputs={"anyOf": [rows, {"type": "object"}]}),
        ]
    }
    predict_response = {
        "oneOf": [_object(["predictions"], predictions=probabilities),
                  _object(["outputs"], outputs=probabilities)]
    }  # fmt: skip
    files_request = _object(
        ["image"],
        image={"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
               "items": {"type": "string", "contentMediaType": "application/octet-stream"}},
    )  # fmt: skip
    files_response = _object(
        ["model", "predictions"],
        model={"type": "object"},
        predictions={"type": "array", "items": _object(
            ["file", "label", "probability", "probabilities"],
            file={"type": ["string", "null"]}, label={"enum": list(info.class_names)},
            probability={"type": "number"}, probabilities={"type": "object"},
        )},
    )  # fmt: skip
    zeros = {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32",
                         "data": [0.0] * values}]}  # fmt: skip
    return {
        "/v2/models/{name}/infer": (
            "Inference (v2): FP32 images scaled to [0, 1], NHWC", "application/json",
            infer_request, zeros, infer_response,
        ),
        "/v1/models/{name}:predict": (
            'Predict (TensorFlow Serving): rows of numbers or {"b64": image file}',
            "application/json", predict_request,
            {"instances": [[[[0.0] * info.channels] * info.width] * info.height]},
            predict_response,
        ),
        "/predict": (
            "Class names for image files (multipart/form-data)", FORM_TYPES[0],
            files_request, None, files_response,
        ),
    }  # fmt: skip


def openapi_document(
    info: ModelInfo, endpoints: Sequence[Endpoint], token_required: bool
) -> dict[str, Any]:
    """The document for ``endpoints`` serving the model ``info``; ``token_required``: every
    path but the health probes needs the bearer token."""
    gets, posts = _schemas(info), _posts(info)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        statuses = ["421", "503"]
        if token_required and not endpoint.path.startswith(OPEN_PATHS):
            statuses.append("401")
        operation: dict[str, Any] = {}
        if "{name}" in endpoint.path:
            statuses.append("404")
            operation["parameters"] = [{
                "name": "name", "in": "path", "required": True,
                "schema": {"enum": [info.name]},  # others: 404
            }]  # fmt: skip
        if endpoint.method == "POST":
            summary, media, schema, example, answer = posts[endpoint.path]
            statuses += ["400", "403", "408", "413", "415"]
            content: dict[str, Any] = {"schema": schema}
            if example is not None:
                content["example"] = example
            bodies = {media: content}
            for other in endpoint.accepts:
                if other == "application/x-www-form-urlencoded":  # ``curl -d``: read as JSON
                    bodies[other] = {"schema": {"type": "object"}}
                elif other == "application/octet-stream":  # v2 binary tensors: see ``_v2``
                    bodies[other] = {"schema": {"type": "string", "format": "binary"}}
            operation["requestBody"] = {"required": True, "content": bodies}
            ok = {"application/json": {"schema": answer}}
            if "application/octet-stream" in endpoint.accepts:
                ok["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
        elif endpoint.path == "/metrics":
            summary, ok = "Prometheus metrics", {"text/plain": {"schema": {"type": "string"}}}
        else:
            summary, answer = gets[endpoint.path]
            ok = {"application/json": {"schema": answer}}
        operation["summary"] = summary
        operation["responses"] = {"200": {"description": "OK", "content": ok}} | {
            status: {
                "description": ERRORS[status],
                "content": {"application/json": {"schema": ERROR}},
            }
            for status in sorted(set(statuses))
        }
        if token_required and endpoint.path.startswith(OPEN_PATHS):
            operation["security"] = []
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"automl serve: {info.name}",
            "version": info.version,
            "description": "KServe Open Inference Protocol v2, TensorFlow Serving REST and "
            "POST /predict over one image classifier.",
        },
        "paths": paths,
    }
    if token_required:
        document["components"] = {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
        document["security"] = [{"bearer": []}]
    return document


__all__ = ["openapi_document"]
