"""`automl serve --model M --grpc-port G` under native load generators (8 keep-alive
connections, one request at a time on each) for each way of sending a KServe v2 `infer`
request: JSON tensors and binary tensors (the `Inference-Header-Content-Length` extension
Triton's clients send) over HTTP/1.1 with `hey`, and `ModelInfer` over gRPC with `h2load`
(nghttp2's HTTP/2 load generator, sending the framed message), at batch 1 and 64. gRPC
answers every call with HTTP 200, so its errors are read from the server's own metrics. The
server's CPU time per request (its process and the log writer's, from /proc) shows what each
way costs the server itself, whatever the load generator on the same cores takes. With
`--bare`, every row is measured on `bench/bare_server.py --orjson --grpc-port` too (uvicorn,
grpc.aio and ONNX Runtime alone, the same JSON library): how far each encoding can go on this
stack at all, and so how much of a gap between them is automl's. Loopback only; each run
stops after --seconds.

    .venv/bin/python bench/bench_protocols.py --model m.onnx [--seconds 15] [--bare]
        [--serve-args "--workers 2"]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
from _serving import automl_serve, bare_server, cpu_seconds, free_port, served_as

GRPC_METHOD = "/inference.GRPCInferenceService/ModelInfer"


def grpc_body(name: str, shape: list[int], batch: int) -> bytes:
    """One gRPC message as it goes on the wire: a flag byte, its length, a ModelInferRequest
    with the images as raw bytes (what Triton's client sends)."""
    from open_inference.grpc import protocol as pb

    images = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
    request = pb.ModelInferRequest(model_name=name, raw_input_contents=[images.tobytes()])
    request.inputs.add(name="input", datatype="FP32", shape=images.shape)
    message = request.SerializeToString()
    return b"\0" + len(message).to_bytes(4, "big") + message


def h2load(url: str, body: Path, seconds: float, log: Path) -> dict[str, float]:
    command = ["h2load", "-c", "8", "-m", "1", "-D", f"{seconds:g}", "-d", str(body),
               "-H", "content-type: application/grpc", "-H", "te: trailers",
               "--log-file", str(log), url]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latencies = np.array([int(line.split()[2]) for line in log.read_text().splitlines()]) / 1e3
    return {
        "requests": float(re.search(r"requests: (\d+) total", out).group(1)),
        "failed": float(re.search(r"(\d+) failed", out).group(1)),
        "rps": float(re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out).group(1)),
        "p50": float(np.percentile(latencies, 50)),
        "p99": float(np.percentile(latencies, 99)),
    }


def grpc_errors(port: int) -> float:
    """ModelInfer calls the server answered with another status than OK, from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "automl_requests_total"
        and sample.labels["endpoint"] == GRPC_METHOD
        and sample.labels["status"] != "200"
    )


def bodies(shape: list[int], batch: int) -> dict[str, tuple[bytes, dict[str, str]]]:
    """(body, headers) of a JSON and a binary request for ``batch`` images of ``shape``."""
    images = np.random.default_rng(0).random((batch, *shape), dtype=np.float32)
    tensor = {"name": "input", "shape": list(images.shape), "datatype": "FP32"}
    as_json = json.dumps({"inputs": [{**tensor, "data": images.ravel().tolist()}]}).encode()
    raw = images.astype("<f4").tobytes()
    header = json.dumps({
        "inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
        "parameters": {"binary_data_output": True},
    }).encode()  # fmt: skip
    return {
        "json": (as_json, {"Content-Type": "application/json"}),
        "binary": (header + raw, {"Content-Type": "application/octet-stream",
                                  "Inference-Header-Content-Length": str(len(header))}),
    }  # fmt: skip


def hey(url: str, body: Path, headers: dict[str, str], seconds: float) -> dict[str, float]:
    command = ["hey", "-z", f"{seconds}s", "-c", "8", "-m", "POST", "-D", str(body)]
    for name, value in headers.items():
        command += ["-T", value] if name == "Content-Type" else ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    statuses = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    return {
        "requests": float(sum(int(n) for n in statuses.values())),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000,
        "p99": float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000,
        "errors": sum(int(n) for code, n in statuses.items() if code != "200"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--bare", action="store_true", help="the bare server's rows too")
    parser.add_argument("--serve-args", default="", help="more flags for automl serve")
    args = parser.parse_args()
    name, shape = served_as(args.model)
    with tempfile.TemporaryDirectory() as folder:
        grpc_port = free_port()
        process, port = automl_serve(
            args.model, Path(folder) / "predictions.db", "--grpc-port", str(grpc_port),
            *shlex.split(args.serve_args),
        )  # fmt: skip
        servers = [("automl serve", process, port, grpc_port)]
        if args.bare:
            bare_grpc_port = free_port()
            bare, bare_port = bare_server(
                args.model, "--orjson", "--grpc-port", str(bare_grpc_port)
            )
            servers.append(("bare", bare, bare_port, bare_grpc_port))
        print(
            f"model {args.model.name} ({'x'.join(map(str, shape))}), hey -c 8 and "
            f"h2load -c 8 -m 1, {args.seconds:g} s"
        )
        print("| server | tensors | batch | req/s | images/s | p50 | p99 | errors "
              "| server CPU per request |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")

        def measured(server: subprocess.Popen, run, *run_args) -> dict[str, float]:
            before = cpu_seconds(server.pid)
            got = run(*run_args)
            got["cpu"] = (cpu_seconds(server.pid) - before) / max(got["requests"], 1)
            return got

        def row(server: str, kind: str, batch: int, got: dict[str, float]) -> None:
            print(f"| {server} | {kind} | {batch} | {got['rps']:,.0f} | "
                  f"{got['rps'] * batch:,.0f} | {got['p50']:.1f} ms | {got['p99']:.1f} ms | "
                  f"{got['errors']:.0f} | {got['cpu'] * 1e6:,.0f} us |")  # fmt: skip

        try:
            for batch in (1, 64):
                for kind, (body, headers) in bodies(shape, batch).items():
                    path = Path(folder) / f"{kind}-{batch}.body"
                    path.write_bytes(body)
                    for server, server_process, server_port, _ in servers:  # taking turns
                        url = f"http://127.0.0.1:{server_port}/v2/models/{name}/infer"
                        got = measured(server_process, hey, url, path, headers, args.seconds)
                        row(server, kind, batch, got)
                path = Path(folder) / f"grpc-{batch}.body"
                path.write_bytes(grpc_body(name, shape, batch))
                for server, server_process, _, server_grpc_port in servers:
                    before = grpc_errors(port)
                    got = measured(server_process, h2load,
                                   f"http://127.0.0.1:{server_grpc_port}{GRPC_METHOD}", path,
                                   args.seconds, Path(folder) / f"grpc-{batch}.log")  # fmt: skip
                    # The bare server keeps no metrics: its row counts h2load's failed calls
                    # (an error status comes in HTTP 200; its answers are checked by hand).
                    ours = server == "automl serve"
                    errors = grpc_errors(port) - before if ours else got["failed"]
                    row(server, "gRPC", batch, {**got, "errors": errors})
        finally:
            for _, server_process, _, _ in servers:
                server_process.terminate()
                server_process.wait(timeout=30)


if __name__ == "__main__":
    main()
