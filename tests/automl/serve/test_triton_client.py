"""Triton's own HTTP client (``tritonclient[http]``), the one users reach for first, against a
real server on loopback: every v2 call it makes, with its default binary tensors and with JSON,
gets the same answers as the JSON API."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as httpclient

from tests.automl.serve.conftest import AUTH, CLASSES, LinearServer, json_answer

# Each call is given its own copy of the headers: the client adds its own to the dict it gets.


@pytest.fixture
def client(linear_server: LinearServer):
    client = httpclient.InferenceServerClient(url=linear_server.url.removeprefix("http://"))
    yield client
    client.close()


def test_server_and_model_calls(client) -> None:
    assert client.is_server_live() and client.is_server_ready()
    server = client.get_server_metadata(headers=dict(AUTH))
    assert server["name"] == "automl-serve" and "binary_tensor_data" in server["extensions"]
    assert client.is_model_ready("shapes", headers=dict(AUTH))
    metadata = client.get_model_metadata("shapes", headers=dict(AUTH))
    assert metadata["inputs"][0]["shape"] == [-1, 8, 8, 1]
    assert metadata["outputs"][0]["shape"] == [-1, len(CLASSES)]


@pytest.mark.parametrize(
    ("binary_in", "binary_out"), [(True, None), (True, False), (False, True), (False, False)]
)
def test_infer_with_binary_or_json_tensors_agrees_with_the_json_api(
    client, linear_server: LinearServer, binary_in: bool, binary_out: bool | None
) -> None:
    images = np.random.default_rng(1).random((5, 8, 8, 1), dtype=np.float32)
    tensor = httpclient.InferInput("input", list(images.shape), "FP32")
    tensor.set_data_from_numpy(images, binary_data=binary_in)
    outputs = (  # None: the client's default, every output as binary data
        None if binary_out is None
        else [httpclient.InferRequestedOutput("probabilities", binary_data=binary_out)]
    )  # fmt: skip
    result = client.infer("shapes", [tensor], outputs=outputs, headers=dict(AUTH))
    got = result.as_numpy("probabilities")
    assert got.dtype == np.float32 and got.shape == (5, len(CLASSES))
    np.testing.assert_allclose(got, json_answer(linear_server.url, images), rtol=1e-6)


def test_bad_binary_requests_are_a_client_error(client) -> None:
    images = np.zeros((2, 8, 8, 1), dtype=np.float32)
    tensor = httpclient.InferInput("input", [1, 8, 8, 1], "FP32")  # says 1 image, sends 2
    tensor.set_data_from_numpy(images[:1])
    tensor._raw_data = images.tobytes()  # what a broken client would send
    with pytest.raises(httpclient.InferenceServerException) as refused:
        client.infer("shapes", [tensor], headers=dict(AUTH))
    assert refused.value.status() == "400" and "binary_data_size" in refused.value.message()
