"""What the serve tests share: a linear classifier in NumPy (the HTTP layer's tests train
nothing) and ``automl serve``'s app under uvicorn on a free loopback port."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from automl.data import ImageOptions
from automl.serve import ModelHolder, ModelInfo, ServedModel, create_app
from automl.serve._protocol import HeadDeadlineProtocol
from storage import TrialStore

TOKEN = "fuzzing-token-of-some-length"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLASSES = ("circle", "square", "triangle")


def linear_model(side: int = 8) -> ServedModel:
    """A fixed linear classifier over ``side``x``side`` grey images."""
    weights = np.random.default_rng(0).normal(size=(side * side, len(CLASSES))).astype("f4")

    def run(batch: np.ndarray) -> np.ndarray:
        logits = batch.reshape(len(batch), -1) @ weights
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    info = ModelInfo(
        name="shapes", version="1", sha256="0" * 64, format="onnx", height=side, width=side,
        channels=1, class_names=CLASSES, options=ImageOptions(image_size=side, color_mode="grayscale"),
    )  # fmt: skip
    return ServedModel(info, Path("linear"), run=run)


def start_server(app, timeout: float = 30) -> tuple[str, object, threading.Thread]:
    """``app`` under uvicorn with ``automl serve``'s protocol, on a free loopback port."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                       http=HeadDeadlineProtocol)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def json_answer(url: str, images: np.ndarray, model: str = "shapes") -> np.ndarray:
    """What the v2 JSON API at ``url`` answers for ``images``, as an array."""
    body = {"inputs": [{"name": "input", "shape": list(images.shape), "datatype": "FP32",
                        "data": images.ravel().tolist()}]}  # fmt: skip
    request = urllib.request.Request(
        f"{url}/v2/models/{model}/infer", json.dumps(body).encode(),
        {**AUTH, "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as reply:
        (output,) = json.load(reply)["outputs"]
    return np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])


@dataclass
class LinearServer:
    url: str
    store: TrialStore


@pytest.fixture(scope="module")
def linear_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinearServer]:
    """``automl serve``'s app over ``linear_model()``, with a token and a prediction log."""
    store = TrialStore(f"sqlite:///{tmp_path_factory.mktemp('linear') / 'automl.db'}")
    app = create_app(ModelHolder(linear_model()), TOKEN, store.record_prediction_rows)
    url, server, thread = start_server(app)
    yield LinearServer(url, store)
    server.should_exit = True
    thread.join(timeout=10)
