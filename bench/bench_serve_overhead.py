"""What `automl serve`'s own request path costs: it against `bench/bare_server.py` (the same
uvicorn and ONNX Runtime session, nothing else), the same `hey` client (8 keep-alive
connections, one-image KServe v2 JSON `infer`), the servers taking turns, and each server's CPU
time per request (its process and children, from /proc). `automl serve` runs
as users run it exposed: a bearer token, metrics, the prediction log (SQLite).

    .venv/bin/python bench/bench_serve_overhead.py --model m.onnx [--seconds 15] [--rounds 2]
    [--serve-args "--batch-window-ms 0"] [--bare-args "--threads 1"]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
from pathlib import Path

from _serving import automl_serve, bare_server, cpu_seconds, served_as
from bench_protocols import bodies, hey

TOKEN = "bench-token-of-some-length"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve-args", default="", help="more flags for automl serve")
    parser.add_argument("--bare-args", default="", help="more flags for bare_server.py")
    args = parser.parse_args()
    name, shape = served_as(args.model)
    with tempfile.TemporaryDirectory() as folder:
        token_file = Path(folder) / "token"
        token_file.write_text(TOKEN)
        servers = {"bare": bare_server(args.model, *shlex.split(args.bare_args))}
        servers["automl serve"] = automl_serve(
            args.model, Path(folder) / "predictions.db", "--token-file", str(token_file),
            *shlex.split(args.serve_args),
        )  # fmt: skip
        try:
            body, headers = bodies(shape, 1)["json"]
            path = Path(folder) / "one.json"
            path.write_bytes(body)
            headers = {**headers, "Authorization": f"Bearer {TOKEN}"}
            results: dict[str, list[dict]] = {kind: [] for kind in servers}
            print("| server | round | req/s | p50 | p99 | errors | server CPU per request |")
            print("|---|---|---|---|---|---|---|")
            for round_ in range(1, args.rounds + 1):
                for kind, (process, port) in servers.items():
                    url = f"http://127.0.0.1:{port}/v2/models/{name}/infer"
                    cpu = cpu_seconds(process.pid)
                    got = hey(url, path, headers, args.seconds)
                    got["cpu"] = (cpu_seconds(process.pid) - cpu) / max(got["requests"], 1)
                    results[kind].append(got)
                    print(f"| {kind} | {round_} | {got['rps']:,.0f} | {got['p50']:.1f} ms | "
                          f"{got['p99']:.1f} ms | {got['errors']:.0f} | "
                          f"{got['cpu'] * 1e6:,.0f} us |")  # fmt: skip
            bare, ours = results["bare"], results["automl serve"]
            rps = statistics.median(r["rps"] for r in ours) / statistics.median(
                r["rps"] for r in bare
            )
            p99 = statistics.median(r["p99"] for r in ours) / statistics.median(
                r["p99"] for r in bare
            )
            cpu = statistics.median(r["cpu"] for r in ours) / statistics.median(
                r["cpu"] for r in bare
            )
            print(f"automl serve / bare: {rps:.2f}x the requests per second, {p99:.2f}x the p99, "
                  f"{cpu:.2f}x the CPU per request")  # fmt: skip
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)


if __name__ == "__main__":
    main()
