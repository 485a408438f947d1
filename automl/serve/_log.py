"""The prediction log: answers go to the trial store in batches, off the request path.

A request only appends to a bounded buffer. A background thread writes what is there every
second; while the database is slow or down the buffer fills, and past its bound the oldest
entries are dropped and counted, so a prediction is never failed or held up by the log. The
same thread deletes entries past their retention, at start and every hour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from storage import PredictionRecord

log = logging.getLogger("automl.serve")

#: Entries held while the database is away (about a minute of busy traffic).
MAX_PENDING = 50_000
FLUSH_EVERY_S = 1.0
BATCH = 2_000
PRUNE_EVERY_S = 3600.0


class PredictionLog:
    def __init__(
        self,
        write: Callable[[Sequence[PredictionRecord]], None],
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
        self._pending: deque[PredictionRecord] = deque()
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

    def add(self, records: Sequence[PredictionRecord]) -> None:
        """Never blocks on the database."""
        with self._lock:
            self._pending.extend(records)
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
        while self._pending:
            with self._lock:
                batch = [self._pending[i] for i in range(min(BATCH, len(self._pending)))]
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


__all__ = ["MAX_PENDING", "PredictionLog"]
