"""What the serving benchmarks share: a server process on a free loopback port, ready."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def served_as(model: Path) -> tuple[str, list[int]]:
    """The name ``automl serve --model`` gives an exported model, and its input's shape
    (height, width, channels), from its card."""
    card = json.loads(model.with_name(model.name + ".card.json").read_text())
    return card.get("study") or model.stem, card["input"]["shape"][1:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(port: int) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"no server became ready on port {port}")


def start(command: list[str]) -> subprocess.Popen:
    """``command`` (quiet) once the server it starts answers its readiness probe; its port is
    the value after ``--port``."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(int(command[command.index("--port") + 1]))
    except RuntimeError:
        process.kill()
        raise
    return process


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that are still running (Linux)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # gone meanwhile
        return []


def cpu_seconds(pid: int) -> float:
    """CPU time a process and its living descendants (the log writer, workers) have used so
    far, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pids = 0.0, [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        pids += children(current)
    return total


def bare_server(model: Path, *flags: str) -> tuple[subprocess.Popen, int]:
    """``bench/bare_server.py --model model``, the reference the server is measured against;
    (process, port)."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).with_name("bare_server.py")),
               "--model", str(model), "--port", str(port), *flags]  # fmt: skip
    return start(command), port


def automl_serve(model: Path, database: Path, *flags: str) -> tuple[subprocess.Popen, int]:
    """``automl serve --model model`` logging to the SQLite file ``database``; (process, port)."""
    port = free_port()
    command = [sys.executable, "-m", "automl.cli", "serve", "--model", str(model),
               "--port", str(port), "--storage", f"sqlite:///{database}", *flags]  # fmt: skip
    return start(command), port
