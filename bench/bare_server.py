"""The reference `automl serve` is measured against: a bare ASGI app on the same uvicorn, the same
ONNX Runtime session called inline, KServe v2 JSON in and out, nothing else (no limits, checks,
metrics, log or batching).

    .venv/bin/python bench/bare_server.py --model m.onnx --port 8090
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime
import uvicorn


def app_for(model: Path):
    options = onnxruntime.SessionOptions()  # the session as automl serve sets it up
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = 200, {"ready": True}
        if scope["method"] == "POST":
            tensor = json.loads(body)["inputs"][0]
            batch = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
            probabilities = session.run(None, {name: batch})[0]
            answer = {"outputs": [{"name": "probabilities", "shape": list(probabilities.shape),
                                   "datatype": "FP32", "data": probabilities.ravel().tolist()}]}  # fmt: skip
        text = json.dumps(answer).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "http.response.body", "body": text})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8090)
    # uvicorn's own choice by default: httptools and uvloop where installed, as automl serve
    parser.add_argument("--http", default="auto", help="uvicorn's HTTP parser: h11, httptools")
    parser.add_argument("--loop", default="auto", help="uvicorn's event loop: asyncio, uvloop")
    args = parser.parse_args()
    uvicorn.run(app_for(args.model), host="127.0.0.1", port=args.port, log_level="error",
                http=args.http, loop=args.loop)  # fmt: skip


if __name__ == "__main__":
    main()
