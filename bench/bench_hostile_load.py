"""`automl serve` for well-behaved clients, alone and under attack: 8 keep-alive clients
sending one-image KServe v2 requests, then the same while 1,000 slow connections trickle a byte
a second (500 their request heads, 500 their bodies after a whole head; reopened when the
server closes them) and a client posts decompression bombs back to back; then while two
clients post 10 MB JSON bodies back to back. Loopback only; each phase stops after --seconds
(past 30, a trickled body's whole deadline, to see them closed).

    .venv/bin/python bench/bench_hostile_load.py --model m.onnx [--seconds 40]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import socket
import statistics
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from _serving import automl_serve, served_as
from PIL import Image


def _client(port: int, name: str, side: int, until: float, latencies: list, errors: list) -> None:
    body = json.dumps({"inputs": [{"name": "input", "shape": [1, side, side, 1],
                                   "datatype": "FP32", "data": [0.5] * side * side}]})  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < until:
        began = time.perf_counter()
        try:
            conn.request("POST", f"/v2/models/{name}/infer", body,
                         {"Content-Type": "application/json"})  # fmt: skip
            reply = conn.getresponse()
            reply.read()
            if reply.status != 200:
                errors.append(reply.status)
        except (OSError, http.client.HTTPException) as exc:
            errors.append(type(exc).__name__)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - began)
    conn.close()


def _slow_connections(port: int, name: str, count: int, until: float, closed: list) -> None:
    """``count`` connections sending a byte a second, half of them in their request's head and
    half in its body; reopened when closed. ``closed``: (part, seconds it was open)."""
    heads = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    bodies = (
        f"POST /v2/models/{name}/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    opened_at: dict[int, float] = {}

    def opened(i: int) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn.setblocking(False)
        conn.send(heads if i % 2 else bodies)
        opened_at[i] = time.monotonic()
        return conn

    conns = [opened(i) for i in range(count)]
    while time.monotonic() < until:
        for i, conn in enumerate(conns):
            try:
                conn.send(b"a")
            except OSError:  # closed by the server: counted, and another takes its place
                closed.append(("head" if i % 2 else "body", time.monotonic() - opened_at[i]))
                conn.close()
                with contextlib.suppress(OSError):
                    conns[i] = opened(i)
        time.sleep(1.0)
    for conn in conns:
        conn.close()


def _bombs(port: int, until: float, statuses: list) -> None:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="b.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode() + buffer.getvalue() + (
            f"\r\n--{boundary}--\r\n").encode()  # fmt: skip
    while time.monotonic() < until:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                statuses.append(reply.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
        except OSError as exc:
            statuses.append(type(exc).__name__)


def _big_bodies(port: int, name: str, until: float, statuses: list) -> None:
    """JSON bodies just under the 10 MB limit: a tensor whose data does not fit its shape."""
    data = ",".join(["0.5"] * 2_400_000)
    body = ('{"inputs": [{"name": "input", "shape": [1, 1], "datatype": "FP32", "data": ['
            + data + "]}]}").encode()  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.monotonic() < until:
        try:
            conn.request("POST", f"/v2/models/{name}/infer", body,
                         {"Content-Type": "application/json"})  # fmt: skip
            reply = conn.getresponse()
            reply.read()
            statuses.append(reply.status)
        except (OSError, http.client.HTTPException) as exc:
            statuses.append(type(exc).__name__)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.close()


def _closed(closed: list) -> str:
    parts = []
    for part, plural in (("head", "heads"), ("body", "bodies")):
        seconds = [s for p, s in closed if p == part]
        if seconds:
            parts.append(f"{len(seconds)} {plural} after {min(seconds):.0f}-{max(seconds):.0f} s")
    return ", ".join(parts) or "none"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def phase(port: int, pid: int, name: str, side: int, seconds: float, attack: str) -> None:
    until = time.monotonic() + seconds
    latencies: list[float] = []
    errors: list = []
    closed: list = []
    bombs: list = []
    threads = [
        threading.Thread(target=_client, args=(port, name, side, until, latencies, errors))
        for _ in range(8)
    ]
    if attack == "slow":
        threads.append(
            threading.Thread(target=_slow_connections, args=(port, name, 1000, until, closed))
        )
        threads.append(threading.Thread(target=_bombs, args=(port, until, bombs)))
    elif attack == "big":
        for _ in range(2):
            threads.append(threading.Thread(target=_big_bodies, args=(port, name, until, bombs)))
    peak = _rss_mb(pid)
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, _rss_mb(pid))
        time.sleep(0.05)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    label = {
        "": "alone",
        "slow": "with 1,000 slow connections and bombs",
        "big": "with two clients posting 10 MB JSON bodies",
    }[attack]
    answered = {s: bombs.count(s) for s in set(bombs)}
    extra = {
        "": "",
        "slow": f"; slow connections closed by the server: {_closed(closed)}; "
        f"bombs answered {answered}",
        "big": f"; 10 MB bodies answered {answered}",
    }[attack]
    print(
        f"{label}: {len(latencies) / seconds:.0f} req/s, p50 {cuts[49] * 1000:.1f} ms, "
        f"p99 {cuts[98] * 1000:.1f} ms, max {max(latencies) * 1000:.0f} ms, "
        f"errors {len(errors)}{extra}; peak RSS {peak:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    name, (side, _, _) = served_as(args.model)
    process, port = automl_serve(args.model, args.model.parent / "load-predictions.db")
    try:
        for attack in ("", "slow", "big"):
            phase(port, process.pid, name, side, args.seconds, attack)
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
