"""Where `automl serve`'s CPU goes on one-image KServe v2 JSON `infer` requests: the server
as users run it exposed (a bearer token, metrics, the prediction log on SQLite) under `hey`
(8 keep-alive connections), sampled by py-spy (every thread that is running, not waiting,
400 times a second: the model's thread runs ONNX Runtime without the interpreter's lock), each
sample put in the part of the request path it was in; the server's own CPU time per request
(from /proc) divides among the parts by their samples. The log writer's
process is measured apart. Loopback only.

    .venv/bin/pip install py-spy   # or: pip install -e .[bench]
    .venv/bin/python bench/profile_serve.py --model m.onnx [--seconds 12]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _serving import automl_serve, children, cpu_seconds, served_as
from bench_protocols import bodies

TOKEN = "bench-token-of-some-length"

#: The parts of a request's path, each by the frames that belong to it: a sample goes to the
#: first part one of its frames (from the innermost out) names.
PARTS = [
    ("the model runtime (ONNX Runtime)", ("onnxruntime/",)),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("the prediction log: entries, hand-off", ("automl/serve/_log.py", "Service.record")),
    ("JSON tensors: parse, convert, answer", ("_parse_json", "numbers (", "tensor_values",
                                              "json_answer", "orjson")),
    ("Starlette's request and response objects", ("starlette/",)),
    ("automl's checks, limits, batching, answers", ("automl/serve/",)),
    ("uvicorn's HTTP and the event loop", ("uvicorn/", "asyncio/", "runpy")),
]  # fmt: skip


def py_spy() -> str:
    """py-spy on the PATH, else the one installed beside this Python (a virtualenv's)."""
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def waiting_for_work(stack: list[str]) -> bool:
    """A thread pool's idle thread, blocked on its queue (py-spy counts it as running)."""
    return stack[-1].startswith("_worker (") and "concurrent/futures/thread.py" in stack[-1]


def part_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for part, marks in PARTS:
            if any(mark in frame for mark in marks):
                return part
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    name, shape = served_as(args.model)
    with tempfile.TemporaryDirectory() as folder:
        token_file = Path(folder) / "token"
        token_file.write_text(TOKEN)
        body, headers = bodies(shape, 1)["json"]
        (Path(folder) / "one.json").write_bytes(body)
        process, port = automl_serve(args.model, Path(folder) / "log.db",
                                     "--token-file", str(token_file))  # fmt: skip
        try:
            command = ["hey", "-z", f"{args.seconds:g}s", "-c", "8", "-m", "POST",
                       "-T", headers["Content-Type"], "-H", f"Authorization: Bearer {TOKEN}",
                       "-D", str(Path(folder) / "one.json"),
                       f"http://127.0.0.1:{port}/v2/models/{name}/infer"]  # fmt: skip
            subprocess.run([*command[:2], "2s", *command[3:]], capture_output=True, check=True)
            writer_pids = children(process.pid)
            cpu, writer_cpu = cpu_seconds(process.pid), sum(map(cpu_seconds, writer_pids))
            load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            samples = Path(folder) / "samples.txt"
            subprocess.run([py_spy(), "record", "--pid", str(process.pid), "--rate",
                            "400", "--duration", str(int(args.seconds) - 2), "--format", "raw",
                            "--output", str(samples), "--nonblocking"],
                           capture_output=True, check=True)  # fmt: skip
            out, _ = load.communicate()
            writer_cpu = sum(map(cpu_seconds, writer_pids)) - writer_cpu
            cpu = cpu_seconds(process.pid) - cpu - writer_cpu
        finally:
            process.terminate()
            process.wait(timeout=30)
        requests = sum(int(line.split()[1]) for line in out.splitlines() if "responses" in line)
        counts: collections.Counter[str] = collections.Counter()
        for line in samples.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            frames = stack.split(";")
            if waiting_for_work(frames):
                continue
            counts[part_of(frames)] += int(n)
    total = sum(counts.values())
    per_request = cpu / requests * 1e6
    print(f"model {args.model.name}: {requests:,} requests in {args.seconds:g} s; the server's "
          f"process {per_request:,.0f} us of CPU per request, its log writer "
          f"{writer_cpu / requests * 1e6:,.0f} us; {total:,} samples")  # fmt: skip
    print("| part of the request path | share of the samples | us of CPU per request |")
    print("|---|---|---|")
    for part, n in counts.most_common():
        print(f"| {part} | {n / total:.0%} | {per_request * n / total:,.0f} |")


if __name__ == "__main__":
    main()
