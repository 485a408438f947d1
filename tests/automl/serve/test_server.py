"""`automl serve`'s app on a real uvicorn server on loopback, called with the specs' shapes."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from automl.cli import main
from automl.search import verified_artifact
from automl.serve import MAX_BODY_BYTES, ModelHolder, create_app, model_holder
from storage import TrialState, TrialStore
from tests.automl.serve.conftest import start_server
from tests.conftest import copy_study

TOKEN = "s3cret-token-of-some-length"


@dataclass
class Served:
    url: str
    store: TrialStore
    study: str
    holder: ModelHolder
    app: object

    def call(
        self,
        path: str,
        body: bytes | dict | None = None,
        *,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = urllib.request.Request(
            self.url + path, data=data, headers=headers or {}, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


@pytest.fixture(scope="module")
def served(digits_study, tmp_path_factory) -> Iterator[Served]:
    config = digits_study
    url = copy_study(config, tmp_path_factory.mktemp("serve_study"))
    store = TrialStore(url)
    holder = model_holder(store=store, study=config.name, runtime="onnx")
    app = create_app(holder, TOKEN, store.record_prediction_rows)
    address, server, thread = start_server(app)
    yield Served(address, store, config.name, holder, app)
    server.should_exit = True  # type: ignore[attr-defined]
    thread.join(timeout=10)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + content
        + b"\r\n"
        for name, content in files
    )
    body = parts + f"--{boundary}--\r\n".encode()
    return body, {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture(scope="module")
def digits_images(served: Served) -> tuple[np.ndarray, np.ndarray]:
    """Three test images as the model takes them, and the Keras model's own probabilities."""
    import keras

    from automl.release import load_study_data

    data = load_study_data(served.store.get_study(served.study), None)
    images = data.model_input(data.x_test[:3])
    _, path = verified_artifact(served.store, served.study, int(served.holder.current.info.version))
    expected = keras.models.load_model(path).predict(images, verbose=0)
    return images, expected


def test_open_inference_protocol_v2(served: Served, digits_images) -> None:
    images, expected = digits_images
    name = served.study
    assert served.call("/v2/health/live") == (200, {"live": True})
    assert served.call("/v2/health/ready") == (200, {"ready": True})
    status, meta = served.call(f"/v2/models/{name}", headers=AUTH)
    assert status == 200 and meta["name"] == name and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 8, 8, 1]}]
    assert meta["outputs"][0]["shape"] == [-1, 10]
    assert served.call(f"/v2/models/{name}/ready", headers=AUTH) == (
        200, {"name": name, "ready": True},
    )  # fmt: skip
    request = {
        "id": "req-1",
        "inputs": [
            {"name": "input", "shape": [3, 8, 8, 1], "datatype": "FP32",
             "data": images.ravel().tolist()}
        ],
    }  # fmt: skip
    status, answer = served.call(f"/v2/models/{name}/infer", request, headers=AUTH)
    assert status == 200, answer
    assert answer["id"] == "req-1" and answer["model_name"] == name
    (output,) = answer["outputs"]
    assert output["shape"] == [3, 10] and output["datatype"] == "FP32"
    got = np.asarray(output["data"]).reshape(3, 10)
    np.testing.assert_allclose(got, expected, atol=1e-4)  # the ONNX runtime matches Keras


def test_tensorflow_serving_rest(served: Served, digits_images) -> None:
    images, expected = digits_images
    name = served.study
    status, answer = served.call(f"/v1/models/{name}", headers=AUTH)
    assert status == 200
    assert answer["model_version_status"][0]["state"] == "AVAILABLE"
    status, meta = served.call(f"/v1/models/{name}/metadata", headers=AUTH)
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    status, rows = served.call(
        f"/v1/models/{name}:predict", {"instances": images.tolist()}, headers=AUTH
    )
    assert status == 200, rows
    np.testing.assert_allclose(np.asarray(rows["predictions"]), expected, atol=1e-4)
    status, columns = served.call(
        f"/v1/models/{name}:predict", {"inputs": images.tolist()}, headers=AUTH
    )
    assert status == 200 and np.allclose(columns["outputs"], rows["predictions"])
    # An image file as {"b64": ...}, prepared as in training: the same answer as its pixels.
    pixels = np.round(images[0, :, :, 0] * 255).astype(np.uint8)
    encoded = base64.b64encode(_png(pixels)).decode()
    status, b64 = served.call(
        f"/v1/models/{name}:predict", {"instances": [{"b64": encoded}]}, headers=AUTH
    )
    assert status == 200, b64
    np.testing.assert_allclose(b64["predictions"][0], expected[0], atol=1e-3)


def test_predict_with_files_and_metrics(served: Served, digits_images) -> None:
    images, expected = digits_images
    pixels = [np.round(image[:, :, 0] * 255).astype(np.uint8) for image in images[:2]]
    body, headers = _multipart([("a.png", _png(pixels[0])), ("b.png", _png(pixels[1]))])
    status, answer = served.call("/predict", body, headers=headers)
    assert status == 200, answer
    model = served.holder.current.info
    assert answer["model"] == {"name": served.study, "study": served.study,
                               "trial": model.trial, "sha256": model.sha256}  # fmt: skip
    first = answer["predictions"][0]
    assert first["file"] == "a.png" and first["label"] == str(int(expected[0].argmax()))
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)

    status, text = served.call("/metrics", headers=AUTH)
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for s in families["automl_requests"].samples
        if s.name == "automl_requests_total"
    }
    assert requests[("/predict", "200")] >= 1
    durations = [s for s in families["automl_request_duration_seconds"].samples
                 if s.name.endswith("_count") and s.labels["endpoint"] == "/predict"]  # fmt: skip
    assert durations and durations[0].value >= 1
    confidence = [s for s in families["automl_prediction_confidence"].samples
                  if s.name.endswith("_count")]  # fmt: skip
    assert confidence[0].value >= 2
    assert any(s.value >= 1 for s in families["automl_predictions"].samples)
    assert "automl_requests_in_flight" in families


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/{name}/infer", b"{not json", 400, "malformed JSON"),
        ("/v2/models/{name}/infer", {"inputs": [{"name": "input", "shape": [1, 4],
          "datatype": "FP32", "data": [0, 0, 0, 0]}]}, 400, "expected inputs of shape"),
        ("/v2/models/{name}/infer", {"inputs": [{"name": "input", "shape": [1, 8, 8, 1],
          "datatype": "INT8", "data": [0] * 64}]}, 400, 'datatype must be "FP32"'),
        ("/v2/models/{name}/infer", {"inputs": [{"name": "input", "shape": [1, 8, 8, 1],
          "datatype": "FP32", "data": [0] * 63}]}, 400, "needs 64 values, got 63"),
        ("/v2/models/{name}/infer", {"inputs": [{"name": "input", "shape": [1, 8, 8, 1],
          "datatype": "FP32", "data": ["a"] * 64}]}, 400, "must be numbers"),
        ("/v2/models/nope/infer", {"inputs": []}, 404, "unknown model 'nope'"),
        ("/v1/models/{name}:predict", {"instances": [{"b64": "!!"}]}, 400, "not valid base64"),
        ("/v1/models/{name}:predict", {"instances": [{"b64": "aGVsbG8="}]}, 400, "not an image"),
        ("/v1/models/{name}:predict", {"instances": [[1, 2]]}, 400, "each instance must be"),
        ("/v1/models/{name}:predict", {"rows": []}, 400, 'either "instances"'),
        ("/predict", b"plain", 415, "multipart/form-data"),  # urllib: form-urlencoded
        ("/no/such/path", None, 404, "no such endpoint"),
        # Hostile bodies: each once a 500 with a traceback.
        ("/v2/models/{name}/infer", {"inputs": [{"name": "input", "shape": [1, 8, 8, 1],
          "datatype": "FP32", "data": [3e38] * 64}]}, 400, "output is not a number"),
        ("/v2/models/{name}/infer", {"inputs": [{"name": "input", "shape": [4294967296,
          4294967296], "datatype": "FP32", "data": []}]}, 400, "at most 256 inputs"),
        ("/v2/models/{name}/infer", {"inputs": [{"name": "input", "shape": [],
          "datatype": "FP32", "data": [0.5]}]}, 400, "expected inputs of shape"),
        ("/v2/models/{name}/infer", b"[" * 100_000 + b"]" * 100_000, 400, "nested too deeply"),
        ("/v2/models/{name}/infer", b'{"inputs": [{"name": "input", "shape": [1, 8, 8, 1], '
          b'"datatype": "FP32", "data": [' + b"9" * 400 + b"]}]}", 400, "fit FP32"),
        ("/v1/models/{name}:predict", {"instances": [[[[1e39]]]]}, 400, "each instance must"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_4xx_json_error(served: Served, path, body, status, message) -> None:
    got, answer = served.call(path.format(name=served.study), body, headers=AUTH)
    assert got == status and message in answer["error"], answer
    assert served.call("/v2/health/live") == (200, {"live": True})  # still serving
    _, text = served.call("/metrics", headers=AUTH)
    assert "NaN" not in text  # a refused answer never reaches the confidence histogram


def test_oversized_bodies_bombs_and_tokens(served: Served) -> None:
    # Refused from its Content-Length, before the body is read (a client still sending gets
    # the answer and a closed connection, as from any server).
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            f"POST /v2/models/{served.study}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n{{".encode()
        )
        reply = ""
        while not reply.endswith("}"):  # the headers and the JSON body may come apart
            chunk = raw.recv(65536).decode()
            if not chunk:
                break
            reply += chunk
    # For an 8x8 model a KServe v2 body of numbers is refused far below 10 MB: 256 inputs of
    # 64 numbers never need more, and parsing numbers holds up every other request.
    assert reply.startswith("HTTP/1.1 413") and "request body over 458,752 bytes" in reply
    bomb = io.BytesIO()  # 12,000 x 12,000 pixels in a few hundred kilobytes
    Image.new("1", (12_000, 12_000)).save(bomb, format="PNG")
    body, headers = _multipart([("bomb.png", bomb.getvalue())])
    status, answer = served.call("/predict", body, headers=headers)
    assert status == 400 and "12000x12000 pixels" in answer["error"]
    status, _ = served.call(f"/v2/models/{served.study}/infer", {"inputs": []})
    assert status == 401
    status, _ = served.call(
        f"/v2/models/{served.study}", headers={"Authorization": "Bearer wrong-token-here"}
    )
    assert status == 401
    # A web page on another site, or one led here by a rebound DNS name, is refused.
    status, answer = served.call(
        f"/v2/models/{served.study}/infer", b"{}",
        headers={**AUTH, "Origin": "https://attacker.example", "Content-Type": "text/plain"},
    )  # fmt: skip
    assert status == 403 and "attacker.example" in answer["error"]
    status, answer = served.call("/v2/health/live", headers={"Host": "attacker.example:80"})
    assert status == 421 and "attacker.example" in answer["error"]
    assert served.call("/v2/health/ready")[0] == 200  # probes need no token...
    assert served.call("/metrics")[0] == 401  # ...but who asked for what is not for anyone
    assert served.call("/v2/health/live", method="POST")[0] == 405


def test_concurrent_requests_share_a_model_call(
    served: Served, digits_images, tmp_path: Path
) -> None:
    """With a batching window, concurrent requests are answered together, each with its own
    rows; a bad request in the same window fails alone. With --keep-inputs each answered
    request's inputs are saved."""
    from concurrent.futures import ThreadPoolExecutor

    images, expected = digits_images
    calls: list[int] = []
    model = served.holder.current
    original = model.run

    def slow_first_call(batch: np.ndarray) -> np.ndarray:
        """The first call holds the model for a second: the requests that arrive meanwhile
        queue and share the next call, however slowly the host starts the client threads."""
        calls.append(len(batch))
        if len(calls) == 1:
            time.sleep(1.0)
        return original(batch)

    model.run = slow_first_call  # type: ignore[method-assign]
    kept = tmp_path / "inputs"
    kept.mkdir()
    app = create_app(served.holder, None, None, batch_window_ms=50, keep_inputs=kept)
    address, server, thread = start_server(app)
    other = Served(address, served.store, served.study, served.holder, None)

    def infer(index: int) -> tuple[int, dict]:
        shape = [1, 8, 8, 1] if index < 6 else [1, 4]  # the last two are malformed
        data = images[index % 3].ravel().tolist() if index < 6 else [0.0] * 4
        request = {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data}]}
        return other.call(f"/v2/models/{served.study}/infer", request)  # type: ignore[return-value]

    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(infer, range(8)))
        # Two clients naming their requests alike (or like a path) keep two files, in the folder.
        same = {"inputs": [{"name": "input", "shape": [1, 8, 8, 1], "datatype": "FP32",
                            "data": images[0].ravel().tolist()}]}  # fmt: skip
        for _ in range(2):
            status, _ = other.call(
                f"/v2/models/{served.study}/infer", same, headers={"X-Request-Id": "../../same"}
            )
            assert status == 200
    finally:
        model.run = original  # type: ignore[method-assign]
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
    for index, (status, answer) in enumerate(results[:6]):
        assert status == 200, answer
        got = np.asarray(answer["outputs"][0]["data"])
        np.testing.assert_allclose(got, expected[index % 3], atol=1e-4)
    assert [status for status, _ in results[6:]] == [400, 400]
    assert sum(calls) == 8 and max(calls) > 1  # fewer model calls than requests
    saved = sorted(kept.glob("*.npy"))
    assert len(saved) == 8  # the two refused requests kept nothing
    assert sorted(p.name[:5] for p in saved if p.name.startswith("same")) == ["same-", "same-"]
    assert {p.parent for p in kept.rglob("*.npy")} == {kept}
    assert any(np.allclose(np.load(path), images[:1]) for path in saved)


def test_every_answer_is_logged_and_skewed_traffic_raises_the_drift_banner(
    served: Served, digits_images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The prediction log in the store, and the Monitoring page reading it: the same digit
    sent 300 times is far from the test split's class mix."""
    images, _ = digits_images
    name, since = served.study, datetime.now(timezone.utc)
    same = np.repeat(images[:1], 150, axis=0)
    for request_id in ("skew-1", "skew-2"):
        request = {"inputs": [{"name": "input", "shape": [150, 8, 8, 1], "datatype": "FP32",
                               "data": same.ravel().tolist()}]}  # fmt: skip
        status, _ = served.call(f"/v2/models/{name}/infer", request,
                                headers={**AUTH, "X-Request-Id": request_id})  # fmt: skip
        assert status == 200
    assert served.call(f"/v2/models/{name}/infer", b"{", headers=AUTH)[0] == 400
    assert served.app.state.prediction_log.flush()
    logged = served.store.predictions(name, since)
    answers = [r for r in logged if r.label is not None]
    assert len(answers) == 300 and {r.request_id for r in answers} == {"skew-1", "skew-2"}
    assert len({r.label for r in answers}) == 1 and all(0 < r.confidence <= 1 for r in answers)
    info = served.holder.current.info
    assert {(r.study_name, r.trial_number, r.model_sha256) for r in logged} == {
        (name, info.trial, info.sha256)
    }
    (refused,) = [r for r in logged if r.label is None]
    assert refused.status == 400 and refused.endpoint == "/v2/models/{name}/infer"

    from tests.dashboard.test_pages import open_page

    monkeypatch.setenv("AUTOML_STORAGE", served.store.url)
    page = open_page("app_pages/monitoring.py")
    assert not page.exception
    (banner,) = page.error
    assert banner.value.startswith("**Drift:**")  # with the module's earlier requests: 312
    metrics = {m.label: m.value for m in page.metric}
    assert int(metrics["Requests"].replace(",", "")) >= 3 and metrics["Error rate"] != "0.00%"


def test_a_client_that_never_finishes_its_body_gets_408(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("automl.serve._http.BODY_TIMEOUT_S", 1.0)
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        raw.sendall(
            f"POST /v2/models/{served.study}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f'Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n{{"inp'.encode()
        )
        reply = raw.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 408")
    assert served.call("/v2/health/live") == (200, {"live": True})


def test_a_new_champion_is_served_without_a_restart(served: Served) -> None:
    store, study = served.store, served.study
    before = served.holder.current
    other = next(
        a.trial_number for a in store.artifacts(study) if str(a.trial_number) != before.info.version
    )
    served.holder.follow(0.2)  # the follower `automl serve` starts (every 5 s there)
    try:
        store.promote(study, other, "hot swap test")
        deadline = time.monotonic() + 60
        while True:  # no hand-made refresh: the follower's own thread swaps it in
            _, meta = served.call(f"/v2/models/{study}", headers=AUTH)
            if meta["versions"] == [str(other)]:
                break
            assert time.monotonic() < deadline, "the new champion was not served within 60 s"
            time.sleep(0.2)
    finally:
        served.holder.close()
    assert meta["parameters"]["sha256"] != before.info.sha256
    assert not served.holder.refresh()  # nothing new: nothing reloaded
    assert store.trial(study, other).state is TrialState.COMPLETE


def test_off_loopback_a_token_is_needed_unless_no_auth_says_otherwise(tmp_path: Path) -> None:
    from automl import AutoMLError
    from automl.serve import read_token

    assert read_token(None, "127.0.0.1", no_auth=False) is None  # loopback: no token needed
    with pytest.raises(AutoMLError, match="needs --token-file FILE, or --no-auth"):
        read_token(None, "0.0.0.0", no_auth=False)
    assert read_token(None, "0.0.0.0", no_auth=True) is None  # exposed on purpose
    (tmp_path / "t").write_text("  short  \n")
    with pytest.raises(AutoMLError, match="too short"):
        read_token(tmp_path / "t", "0.0.0.0", no_auth=False)
    (tmp_path / "t").write_text(TOKEN + "\n")
    assert read_token(tmp_path / "t", "0.0.0.0", no_auth=False) == TOKEN


def test_serve_refuses_bad_input_on_one_line(tmp_path: Path, capsys) -> None:
    cases = [
        (["serve", "--model", str(tmp_path / "none.onnx")], "no model at"),
        (["serve", "--model", "m.onnx", "--host", "0.0.0.0"], "needs --token-file FILE"),
        (["serve", "--model", "m.onnx", "--token-file", str(tmp_path / "t")], "cannot read"),
        (["serve", "--model", "m.onnx", "--port", "0"], "--port must be 1-65535"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("automl: error:") and message in err and "\n" not in err


@pytest.mark.parametrize("source", ["model", "study"])
def test_onnx_is_served_without_tensorflow(served: Served, tmp_path: Path, source: str) -> None:
    """`automl serve --model x.onnx` answers with ONNX Runtime alone: TensorFlow, its start-up
    time and its memory are never loaded into the server. So does `--study` once its champion
    is converted (the fixture's server did that): a restarted server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = served.holder.current.path  # the study's champion, converted to ONNX, with its card
    if source == "model":
        what = ["--model", str(model), "--storage", f"sqlite:///{tmp_path / 'predictions.db'}"]
    else:
        what = ["--study", served.study, "--storage", served.store.engine.url.render_as_string()]
    process = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "serve", *what, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = Served(f"http://127.0.0.1:{port}", served.store, served.study, served.holder, None)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if client.call("/v2/health/ready") == (200, {"ready": True}):
                    break
            except OSError:  # not listening yet
                pass
            assert time.monotonic() < deadline, "the server was not ready within 60 s"
            time.sleep(0.2)
        body, headers = _multipart([("seven.png", _png(np.full((8, 8), 200, np.uint8)))])
        status, answer = client.call("/predict", body, headers=headers)
        assert status == 200 and len(answer["predictions"]) == 1, answer
        libraries = Path(f"/proc/{process.pid}/maps").read_text()
        assert "onnxruntime" in libraries and "tensorflow" not in libraries
    finally:
        process.terminate()
        process.wait(timeout=30)
