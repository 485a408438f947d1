"""The commands after a search, as a user runs them: evaluate (and --cv), a warm start, the
dashboard, and automl serve's flags (a token, each runtime, no batching window, a tampered
model refused)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from storage import TrialStore
from tests.conftest import copy_study

from .conftest import AUTOML

TOKEN = "a-token-of-twenty-four-c"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def study(digits_study, tmp_path_factory) -> tuple[str, str, Path]:
    """A private copy of the shared digits study: (storage URL, study name, its folder)."""
    folder = tmp_path_factory.mktemp("release_cli")
    return copy_study(digits_study, folder), digits_study.name, folder


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@contextmanager
def _running(
    args: list[str], ready_path: str, cwd: Path, started: list | None = None
) -> Iterator[str]:
    """``automl ARGS --port P`` until it answers ``ready_path`` (60 s at most), then stopped;
    the process is appended to ``started``."""
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [*AUTOML, *args, "--port", str(port)], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    address = f"http://127.0.0.1:{port}"
    if started is not None:
        started.append(process)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if _get(address + ready_path)[0] == 200:
                    break
            except OSError:  # not listening yet
                pass
            assert time.monotonic() < deadline, f"{args[0]} was not ready within 60 s"
            time.sleep(0.3)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def test_evaluate_prints_the_test_metrics_and_cross_validates(study, cli) -> None:
    url, name, folder = study
    result = cli("evaluate", "--study", name, "--cv", "2", "--storage", url, cwd=folder)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "on the held-out test split" in out and "test accuracy 0." in out
    assert "confusion matrix" in out and "2-fold cross-validation: 0." in out
    record = TrialStore(url).evaluation(name, TrialStore(url).best_trial(name).number)
    assert record is not None and record.cv_folds == 2 and len(record.cv_scores) == 2


def test_a_warm_start_screens_the_earlier_studys_best_first(study, cli) -> None:
    url, name, folder = study
    result = cli(
        "search", "--task", "digits", "--study", "warm", "--warm-start", name, "--trials", "1",
        "--epochs", "1", "--timeout", "none", "--no-default-start", "--storage", url, cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"warm start: the 3 best configurations of {name!r} first" in result.stdout
    store = TrialStore(url)
    ranked = sorted((t for t in store.trials(name) if t.value is not None), key=lambda t: -t.value)
    (first,) = store.trials("warm")
    assert first.params == ranked[0].params  # the earlier study's best, not a sampled one


def test_the_dashboard_command_serves_the_app(study) -> None:
    url, _, folder = study
    with _running(["dashboard", "--storage", url], "/_stcore/health", folder) as address:
        status, page = _get(address + "/")
        assert status == 200 and "<title>" in page


def _infer(address: str, name: str, token: str | None = None) -> tuple[int, str]:
    image = [0.0] * 64
    body = {"inputs": [{"name": "input", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": image}]}
    return _get(f"{address}/v2/models/{name}/infer", token, body)


@pytest.mark.parametrize("runtime", ["tflite", "keras"])
def test_serve_answers_on_every_runtime_without_a_batching_window(study, runtime: str) -> None:
    url, name, folder = study
    args = ["serve", "--study", name, "--runtime", runtime, "--batch-window-ms", "0"]
    with _running([*args, "--storage", url], "/v2/health/ready", folder) as address:
        status, answer = _infer(address, name)
        assert status == 200, answer
        probabilities = json.loads(answer)["outputs"][0]["data"]
        assert len(probabilities) == 10 and abs(sum(probabilities) - 1.0) < 1e-4
        assert (
            json.loads(_get(f"{address}/v2/models/{name}")[1])["platform"]
            == {
                "tflite": "tflite",
                "keras": "tensorflow_keras",
            }[runtime]
        )


def _worker_processes(parent: int) -> list[int]:
    """The processes ``parent`` started to run Python code (uvicorn's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def test_two_workers_share_the_port_the_metrics_the_log_and_the_champion(study) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from storage import TrialState

    url, name, folder = study
    store = TrialStore(url)
    kept = [
        t
        for t in store.trials(name)
        if t.state is TrialState.COMPLETE and store.artifact(name, t.number)
    ]
    first, second = kept[0].number, kept[1].number
    store.promote(name, first, note="two workers")
    since = time.time()
    started: list = []
    grpc_port = _free_port()
    args = ["serve", "--study", name, "--workers", "2", "--storage", url,
            "--grpc-port", str(grpc_port)]  # fmt: skip
    with _running(args, "/v2/health/ready", folder, started) as address:
        assert len(_worker_processes(started[0].pid)) == 2
        for _ in range(40):  # a new connection each: the kernel deals them to both workers
            status, answer = _infer(address, name)
            assert status == 200, answer
        for _ in range(4):  # each worker listens on the gRPC port too
            image = np.zeros((1, 8, 8, 1), dtype=np.float32)
            got = _triton_grpc(f"127.0.0.1:{grpc_port}", name, "", image, folder)
            assert np.isclose(sum(got["probabilities"][0]), 1.0, atol=1e-4)
        _, text = _get(f"{address}/metrics")
        answered = {
            sample.labels.get("endpoint"): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "automl_requests_total"
        }
        assert answered["/v2/models/{name}/infer"] == 40  # every worker's, whichever answered
        assert answered["/inference.GRPCInferenceService/ModelInfer"] == 8  # 4 with and without
        store.promote(name, second, note="swapped")  # each worker follows the champion
        deadline, versions = time.monotonic() + 30, set()
        while time.monotonic() < deadline:
            versions = {json.loads(_get(f"{address}/v2/models/{name}")[1])["versions"][0]
                        for _ in range(20)}  # fmt: skip
            if versions == {str(second)}:
                break
            time.sleep(1)
        assert versions == {str(second)}
    logged = [p for p in store.predictions(name, datetime.fromtimestamp(since, timezone.utc))
              if p.endpoint == "/v2/models/{name}/infer"]  # fmt: skip
    assert len(logged) == 40  # one log, both workers' answers, written on the way out


def _triton_grpc(address: str, name: str, token: str, images: np.ndarray, folder: Path) -> dict:
    """What Triton's gRPC client, in a process of its own, gets from ``address``."""
    np.save(folder / "images.npy", images)
    done = subprocess.run(
        [sys.executable, "-m", "tests.automl.serve.triton_grpc_client", address, token,
         str(folder / "images.npy"), name],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_serve_with_a_token_file_refuses_requests_without_it(study, cli, tmp_path: Path) -> None:
    url, name, folder = study
    model = tmp_path / "m.onnx"
    exported = cli("export", "--study", name, "--format", "onnx", "--out", str(model),
                   "--storage", url, cwd=folder)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    grpc_port = _free_port()
    args = ["serve", "--model", str(model), "--token-file", str(token_file), "--storage", url,
            "--grpc-port", str(grpc_port)]  # fmt: skip
    with _running(args, "/v2/health/ready", folder) as address:  # probes stay open
        assert _infer(address, name)[0] == 401
        assert _infer(address, name, "wrong-token-of-24-chars!")[0] == 401
        status, answer = _infer(address, name, TOKEN)
        assert status == 200, answer
        # gRPC beside it: the same token, the same answer
        image = np.zeros((1, 8, 8, 1), dtype=np.float32)
        got = _triton_grpc(f"127.0.0.1:{grpc_port}", name, TOKEN, image, tmp_path)
        assert got["without_token"]["status"] == "StatusCode.UNAUTHENTICATED"
        np.testing.assert_allclose(
            got["probabilities"][0], json.loads(answer)["outputs"][0]["data"], rtol=1e-5
        )
        # a second server on the same gRPC port is refused on one line, before it loads
        taken = cli("serve", "--model", str(model), "--port", str(_free_port()), "--grpc-port",
                    str(grpc_port), "--storage", url, cwd=folder, timeout=120)  # fmt: skip
        assert taken.returncode == 2 and "--grpc-port" in taken.stderr, taken.stderr
        assert len(taken.stderr.strip().splitlines()) == 1

    # The same file changed after its export: refused on one line, nothing served.
    model.write_bytes(model.read_bytes() + b"\0")
    refused = cli("serve", "--model", str(model), "--port", str(_free_port()), "--storage", url,
                  cwd=folder, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "card" in refused.stderr, (
        refused.stderr
    )
