"""The prediction log: answers go to the trial store in batches, off the request path.

A request only appends to a bounded buffer. A background thread writes what is there every
second; while the database is slow or down the buffer fills, and past its bound the oldest
entries are dropped and counted, so a prediction is never failed or held up by the log. The
same thread deletes entries past their retention, at start and every hour.

The server's writes go through ``LogWriterProcess``: the database work (SQLAlchemy's, in
Python) runs in a process of its own, so that it never holds the server's interpreter lock
while requests wait.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("automl.serve")

#: A logged answer: a tuple of ``storage.PREDICTION_FIELDS``.
Row = tuple

#: Entries held while the database is away (about a minute of busy traffic).
MAX_PENDING = 50_000
FLUSH_EVERY_S = 1.0
BATCH = 2_000
PRUNE_EVERY_S = 3600.0


class PredictionLog:
    def __init__(
        self,
        write: Callable[[Sequence[Row]], None],
        on_drop: Callable[[int], None] = lambda n: None,
        max_pending: int = MAX_PENDING,
        prune: Callable[[], int] | None = None,
        on_pending: Callable[[int], None] = lambda n: None,
    ) -> None:
        """``prune``: deletes the entries past their retention (returns how many);
        ``on_pending``: told how many entries wait after each of the writer's rounds."""
        self._write = write
        self._prune = prune
        self._on_drop = on_drop
        self._on_pending = on_pending
        self._pending: deque[Row] = deque()
        self._max = max_pending
        self._lock = threading.Lock()
        # One flush at a time: the writer thread and a caller (a test, shutdown) would
        # otherwise both take the same batch and write it twice.
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, rows: Sequence[Row]) -> None:
        """Never blocks on the database."""
        with self._lock:
            self._pending.extend(rows)
            dropped = len(self._pending) - self._max
            for _ in range(max(dropped, 0)):
                self._pending.popleft()
        if dropped > 0:
            self._on_drop(dropped)

    def flush(self) -> bool:
        """Write what is pending; False when the database refused (the entries stay)."""
        with self._flushing:
            return self._flush()

    def _flush(self) -> bool:
        # What is pending now, not what arrives meanwhile: chasing the newest entries wrote
        # a busy server's log in ever smaller transactions, and a commit costs the writer
        # what a hundred rows or more do.
        left = len(self._pending)
        while left > 0 and self._pending:
            with self._lock:
                batch = [self._pending[i] for i in range(min(BATCH, left, len(self._pending)))]
            left -= len(batch)
            try:
                self._write(batch)
            except Exception as exc:  # the database is down or slow: keep the entries
                if not self._failing:
                    log.warning(
                        "the prediction log cannot be written (%s); holding up to %d entries",
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                        self._max,
                    )
                self._failing = True
                return False
            with self._lock:  # the oldest may have been dropped meanwhile: remove by identity
                written = {id(r) for r in batch}
                while self._pending and id(self._pending[0]) in written:
                    self._pending.popleft()
            if self._failing:
                log.warning("the prediction log is written again")
                self._failing = False
        return True

    def _run(self) -> None:
        pruned_at = float("-inf")
        while True:
            if self._prune is not None and time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                pruned_at = time.monotonic()
                try:
                    if deleted := self._prune():
                        log.info("deleted %d prediction-log entries past their retention", deleted)
                except Exception as exc:  # the database is away: next time
                    log.warning("could not prune the prediction log: %s", exc)
            if self._stop.wait(FLUSH_EVERY_S):
                return
            self.flush()
            self._on_pending(self.pending)

    def close(self) -> None:
        """Stop the writer and write what is left (best effort)."""
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()


#: Seconds a write or prune may take in the writer process before it is replaced (a database
#: that does not answer; the batch stays pending).
WRITER_TIMEOUT_S = 120.0


class LogWriterProcess:
    """The prediction log's database work, in a child process: ``write`` and ``prune`` send
    it the request and wait on a socket, without the interpreter lock. 2,000 answers cost the
    server the pickling of their entries (5 ms) instead of SQLAlchemy's insert (40 ms of
    Python holding the lock while requests wait: the server's p99 was 10-18 % higher;
    BENCHMARKS.md, *Serving: the server's own cost*). The child imports only ``storage``
    (``storage.serve_log_writes``). A process that dies or hangs fails that call, as a
    database that is down does (``PredictionLog`` keeps the entries), and is replaced at the
    next."""

    def __init__(self, storage_url: str, retention_days: float = 0.0) -> None:
        self._url = storage_url
        self._retention_days = retention_days
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._closed = False
        atexit.register(self.close)
        with self._lock:
            self._start()  # now: its imports overlap the server's start

    @property
    def prune(self) -> Callable[[], int] | None:
        """Deletes entries past their retention (None: kept for ever)."""
        return self._prune if self._retention_days > 0 else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def write(self, rows: Sequence[Row]) -> None:
        self._call("write", list(rows))

    def _prune(self) -> int:
        return self._call("prune", self._retention_days)

    def close(self) -> None:
        """Let the process finish what it was sent and exit (a call still waiting on a
        database that does not answer is not waited for long)."""
        held = self._lock.acquire(timeout=15)
        try:
            self._closed = True
            self._stop(wait_s=10)
        finally:
            if held:
                self._lock.release()

    def _call(self, kind: str, payload: object) -> Any:
        with self._lock:
            if self._closed:
                raise RuntimeError("the log's writer process is closed")
            if self._process is None or self._process.poll() is not None:
                self._stop()
                self._start()
            assert self._conn is not None
            try:
                self._conn.send((kind, payload))
                if not self._conn.poll(WRITER_TIMEOUT_S):
                    raise TimeoutError(f"no answer in {WRITER_TIMEOUT_S:g} s")
                done, value = self._conn.recv()
            except (OSError, EOFError, TimeoutError) as exc:
                self._stop()
                raise RuntimeError(f"the log's writer process failed ({exc})") from None
        if not done:
            raise RuntimeError(value)  # the database's own words
        return value

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        # The server's own import path (its venv, an editable install, PYTHONPATH), so that
        # the child finds the storage package the server uses.
        path = [entry or os.getcwd() for entry in sys.path]
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, json.dumps(path), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        self._conn = Connection(ours.detach())
        self._conn.send(self._url)  # not on its command line, which others on the host can read

    def _stop(self, wait_s: float = 0.0) -> None:
        if self._conn is not None:
            self._conn.close()  # the process reads the end of its requests, and exits
            self._conn = None
        if self._process is not None:
            try:
                self._process.wait(wait_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


#: The writer process's program: the server's import path, then storage's loop.
_CHILD = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from storage import serve_log_writes; serve_log_writes(int(sys.argv[2]))"
)


__all__ = ["MAX_PENDING", "LogWriterProcess", "PredictionLog"]
