"""The reference `automl serve` is measured against: a bare ASGI app on the same uvicorn, the same
ONNX Runtime session called inline, KServe v2 `infer` in and out, nothing else (no limits,
checks, metrics, log or batching). Its tensors come as JSON (parsed with `json`, or orjson with
`--orjson`, what `automl serve` uses) or as binary data after an
`Inference-Header-Content-Length` JSON header, answered the same way: with `--orjson` it is
the most that uvicorn and ONNX Runtime alone give each encoding. `--threads 1`: the session
`automl serve` answers short calls with. `--grpc-port G`: v2 gRPC `ModelInfer` too, raw bytes
in and out, on grpc.aio on the same event loop (as `automl serve --grpc-port` runs it).

    .venv/bin/python bench/bare_server.py --model m.onnx --port 8090 [--orjson] [--threads 1]
        [--grpc-port 8091]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime
import uvicorn

HEADER_LENGTH = b"inference-header-content-length"


def grpc_server_for(session, name: str, port: int):
    """A grpc.aio server answering ``ModelInfer`` with the session, called inline."""
    import grpc
    from open_inference.grpc import protocol as pb

    async def infer(request, context):
        tensor = request.inputs[0]
        raw = request.raw_input_contents[0]
        batch = np.frombuffer(raw, dtype="<f4").reshape(list(tensor.shape))
        probabilities = session.run(None, {name: batch})[0]
        response = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
        response.outputs.add(name="probabilities", datatype="FP32", shape=probabilities.shape)
        response.raw_output_contents.append(probabilities.astype("<f4").tobytes())
        return response

    handler = grpc.unary_unary_rpc_method_handler(
        infer,
        request_deserializer=pb.ModelInferRequest.FromString,
        response_serializer=pb.ModelInferResponse.SerializeToString,
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService", {"ModelInfer": handler}),))  # fmt: skip
    server.add_insecure_port(f"127.0.0.1:{port}")
    return server


def app_for(model: Path, use_orjson: bool = False, threads: int = 0, grpc_port: int = 0):
    options = onnxruntime.SessionOptions()  # automl serve's pooled session
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if use_orjson:
        import orjson

        loads, dumps = orjson.loads, orjson.dumps
    else:
        loads, dumps = json.loads, lambda value: json.dumps(value).encode()
    servers: list = []

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":  # gRPC from startup to shutdown, on this event loop
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if grpc_port:
                        servers.append(grpc_server_for(session, name, grpc_port))
                        await servers[0].start()
                    await send({"type": "lifespan.startup.complete"})
                else:
                    for server in servers:
                        await server.stop(grace=1)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(b"content-type", b"application/json")]
        answer = {"ready": True}
        raw = b""
        if scope["method"] == "POST":
            header_length = dict(scope["headers"]).get(HEADER_LENGTH)
            if header_length is None:  # JSON tensors
                tensor = loads(body)["inputs"][0]
                batch = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
            else:  # binary tensors after the JSON header
                split = int(header_length)
                tensor = loads(body[:split])["inputs"][0]
                batch = np.frombuffer(body[split:], dtype="<f4").reshape(tensor["shape"])
            probabilities = session.run(None, {name: batch})[0]
            output = {"name": "probabilities", "shape": list(probabilities.shape),
                      "datatype": "FP32"}  # fmt: skip
            if header_length is None:
                output["data"] = probabilities.ravel().tolist()
            else:
                raw = probabilities.astype("<f4").tobytes()
                output["parameters"] = {"binary_data_size": len(raw)}
            answer = {"outputs": [output]}
        text = dumps(answer)
        if raw:
            headers = [(b"content-type", b"application/octet-stream"),
                       (HEADER_LENGTH, str(len(text)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": text + raw})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--orjson", action="store_true", help="parse and write JSON with orjson")
    parser.add_argument("--grpc-port", type=int, default=0, help="v2 gRPC ModelInfer here too")
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime's threads (default 0: one per core)")  # fmt: skip
    # uvicorn's own choice by default: httptools and uvloop where installed, as automl serve
    parser.add_argument("--http", default="auto", help="uvicorn's HTTP parser: h11, httptools")
    parser.add_argument("--loop", default="auto", help="uvicorn's event loop: asyncio, uvloop")
    args = parser.parse_args()
    app = app_for(args.model, args.orjson, args.threads, args.grpc_port)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error", http=args.http,
                loop=args.loop)  # fmt: skip


if __name__ == "__main__":
    main()
