"""Load test of `automl serve` on loopback, one runtime after the other (not a timed test).

For each runtime: start the real server (`automl serve --study S --runtime R`) on a free
port, wait until it is ready, warm it up, then C client threads each send one-image v2
`infer` requests back to back for T seconds (stops by itself). Reports requests per second,
p50/p99 latency seen by the clients, and errors; then the prediction log's write cost per
entry on the same store.

    .venv/bin/python bench/bench_serve.py --study fm --storage sqlite:///automl.db
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage import PredictionRecord, TrialStore  # noqa: E402


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def run_load(base: str, study: str, shape: list[int], clients: int, seconds: float) -> dict:
    rng = np.random.default_rng(0)
    bodies = [
        json.dumps(
            {"inputs": [{"name": "input", "shape": [1, *shape], "datatype": "FP32",
                         "data": rng.random(int(np.prod(shape))).round(3).tolist()}]}
        ).encode()
        for _ in range(64)
    ]  # fmt: skip
    url = f"{base}/v2/models/{study}/infer"
    for body in bodies[:20]:  # warm-up
        _post(url, body)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds

    def client(index: int) -> None:
        i = index
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                status = _post(url, bodies[i % len(bodies)])
            except OSError:
                status = 0
            latencies[index].append(time.perf_counter() - started)
            errors[index] += status != 200
            i += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    all_latencies = np.array([x for per in latencies for x in per]) * 1000
    return {
        "requests": int(all_latencies.size),
        "rps": all_latencies.size / elapsed,
        "p50_ms": float(np.percentile(all_latencies, 50)),
        "p99_ms": float(np.percentile(all_latencies, 99)),
        "errors": int(sum(errors)),
    }


def bench_runtime(args: argparse.Namespace, runtime: str, window_ms: float) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "serve", "--study", args.study, "--runtime", runtime,
         "--port", str(port), "--storage", args.storage, "--batch-window-ms", str(window_ms)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 600  # the first start converts the model
        while True:
            try:
                if _get(f"{base}/v2/health/ready")["ready"]:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"{runtime}: the server did not start: {server.stderr.read()}")
            time.sleep(0.5)
        meta = _get(f"{base}/v2/models/{args.study}")
        shape = meta["inputs"][0]["shape"][1:]
        result = run_load(base, args.study, shape, args.clients, args.seconds)
        return {"runtime": runtime, "window_ms": window_ms, **result}
    finally:
        server.terminate()
        server.wait(timeout=60)


def log_write_cost(storage: str, entries: int = 20_000, batch: int = 2_000) -> float:
    """Milliseconds of database time per logged prediction, in the writer's batch size."""
    store = TrialStore(storage)
    now = datetime.now(timezone.utc) - timedelta(days=3650)  # out of any monitoring window
    records = [
        PredictionRecord("bench-log", "0" * 64, f"r{i}", "/bench", 200, 1.0, now, "x", 0.9)
        for i in range(entries)
    ]
    started = time.perf_counter()
    for i in range(0, entries, batch):
        store.record_predictions(records[i : i + batch])
    seconds = time.perf_counter() - started
    with store.engine.begin() as conn:  # leave no trace in the user's store
        from sqlalchemy import text

        conn.execute(text("DELETE FROM automl_predictions WHERE model_name = 'bench-log'"))
    return seconds * 1000 / entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", default="sqlite:///automl.db")
    parser.add_argument("--runtimes", nargs="+", default=["onnx", "tflite", "keras"])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--windows-ms", type=float, nargs="+", default=[0.0, 2.0])
    args = parser.parse_args()
    print(f"{args.clients} clients x {args.seconds:g} s, one image per request (v2 infer)")
    print(f"{'runtime':8} {'batching':>9} {'requests':>9} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'errors':>7}")  # fmt: skip
    for runtime in args.runtimes:
        for window in args.windows_ms:
            r = bench_runtime(args, runtime, window)
            batching = f"{window:g} ms" if window else "off"
            print(f"{runtime:8} {batching:>9} {r['requests']:9d} {r['rps']:8.1f} "
                  f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:7d}", flush=True)  # fmt: skip
    print(f"prediction log: {log_write_cost(args.storage):.4f} ms of database time per entry")


if __name__ == "__main__":
    main()
