"""The servers' OpenAPI document, and a seeded property-based fuzzer (Schemathesis) that holds
a real uvicorn server on loopback to it: every generated request, valid or not, gets an
answer the document lists, in the shape it gives, and never a 5xx. The model is a linear
classifier in NumPy, so the test trains nothing; the HTTP layer is the one ``automl serve``
runs."""

from __future__ import annotations

import json
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from tests.automl.serve.conftest import AUTH


@pytest.fixture(scope="module")
def server_url(linear_server) -> str:
    return linear_server.url


@pytest.fixture(scope="module")
def api(server_url: str):
    return schemathesis.openapi.from_url(f"{server_url}/openapi.json", headers=AUTH)


#: Every operation the document lists (checked below), each fuzzed on its own.
OPERATIONS = [
    ("GET", "/v2"), ("GET", "/v2/health/live"), ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/{name}"), ("GET", "/v2/models/{name}/ready"),
    ("POST", "/v2/models/{name}/infer"), ("GET", "/v1/models/{name}"),
    ("GET", "/v1/models/{name}/metadata"), ("POST", "/v1/models/{name}:predict"),
    ("POST", "/predict"), ("GET", "/metrics"),
]  # fmt: skip


def test_the_document_lists_every_route(api, server_url: str) -> None:
    listed = {(op.ok().method.upper(), op.ok().path) for op in api.get_all_operations()}
    assert listed == set(OPERATIONS)  # Schemathesis leaves out the document's own path
    request = urllib.request.Request(f"{server_url}/openapi.json", headers=AUTH)
    with urllib.request.urlopen(request, timeout=10) as reply:
        document = json.load(reply)
    assert "get" in document["paths"]["/openapi.json"]
    assert document["paths"]["/v2/health/live"]["get"]["security"] == []  # probes stay open


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_request_gets_a_documented_answer_and_never_a_5xx(
    api, server_url: str, method: str, path: str
) -> None:
    @given(case=api[path][method].as_strategy())
    @settings(
        max_examples=150 if method == "POST" else 20,  # bodies: where the bugs were
        derandomize=True,  # seeded: the same requests on every run
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case) -> None:
        case.call_and_validate(
            base_url=server_url,
            headers=AUTH,
            checks=[
                checks.not_a_server_error,
                checks.status_code_conformance,
                checks.content_type_conformance,
                checks.response_schema_conformance,
            ],
        )

    fuzz()


@pytest.mark.parametrize("path", ["/v2/models/{name}/infer", "/v1/models/{name}:predict"])
def test_the_documented_examples_are_answered(api, server_url: str, path: str) -> None:
    operation = api[path]["POST"]
    example = operation.definition.raw["requestBody"]["content"]["application/json"]["example"]
    case = operation.Case(body=example, path_parameters={"name": "shapes"},
                          media_type="application/json")  # fmt: skip
    response = case.call_and_validate(base_url=server_url, headers=AUTH)
    assert response.status_code == 200
