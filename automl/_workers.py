"""`automl search --workers N`: N - 1 more `automl search` processes on this machine, on the
same study, each with its share of the CPU cores.

They are what a user would start by hand on other machines: each runs its own workers,
screens, and trains one configuration in the final phase (the next best not yet taken), so
N workers train the N best configurations in full.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from automl._quiet import PROGRESS_BAR_VARIABLE

#: TensorFlow reads its thread-pool sizes from these; every worker process inherits them.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
STOP_WAIT_S = 60
#: A time.time() instant at which a timed search's budget starts, instead of now.
BUDGET_START_VARIABLE = "AUTOML_BUDGET_START"


def share_clock() -> None:
    """One budget for all: the helpers' timed searches start when this one did."""
    os.environ[BUDGET_START_VARIABLE] = str(time.time())


def machine_shared() -> bool:
    """Whether other search processes of this run share this machine's cores (``--workers``):
    set for the first one and inherited by its helpers."""
    return BUDGET_START_VARIABLE in os.environ


def share_cores(workers: int) -> int:
    """Each worker's TensorFlow threads: the cores divided among the workers (unless the user
    set the variables)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))
    return int(os.environ[THREAD_VARIABLES[0]])


def _one_worker(argv: list[str]) -> list[str]:
    """``argv`` with ``--workers N`` replaced by ``--workers 1``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--workers":
            skip = True
        elif not arg.startswith("--workers="):
            out.append(arg)
    return [*out, "--workers", "1"]


class Helpers:
    """The other ``count`` worker processes, started once the study is ready."""

    def __init__(self, argv: list[str], count: int, log_dir: Path) -> None:
        self.argv, self.count, self.log_dir = _one_worker(argv), count, log_dir
        self.processes: list[tuple[subprocess.Popen, Path]] = []

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, PROGRESS_BAR_VARIABLE: "0"}  # their output goes to a log file
        for index in range(1, self.count + 1):
            log = self.log_dir / f"worker-{index}.log"
            with open(log, "w") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "automl.cli", *self.argv],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                )
            self.processes.append((process, log))
        print(
            f"started {self.count} more worker(s) on this study; their output: "
            f"{self.log_dir}/worker-*.log",
            file=sys.stderr,
        )

    def wait(self) -> list[str]:
        """Wait for every helper; one line for each that did not end well."""
        problems = []
        for index, (process, log) in enumerate(self.processes, start=1):
            code = process.wait()
            if code != 0:
                lines = log.read_text(errors="replace").strip().splitlines()
                problems.append(
                    f"worker {index} exited with code {code}: {lines[-1] if lines else ''} "
                    f"(see {log})"
                )
        return problems

    def stop(self, sig: int, grace_s: float = 0.0) -> None:
        """Stop them as this process is being stopped: each closes its running trial. After
        Ctrl-C they got SIGINT from the terminal themselves: ``grace_s`` to stop on their own
        before ``sig`` is sent (a second signal would cut their own cleanup short)."""
        for process, _ in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace_s)
            if process.poll() is None:
                process.send_signal(sig)
        for process, _ in self.processes:
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
