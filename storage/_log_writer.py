"""The prediction log's writer process: ``automl serve`` starts it and sends it, over a
connection, the answers to record and the retention to prune to. It imports only this package,
so that it costs the memory of the store and nothing else of the server."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta, timezone
from multiprocessing.connection import Connection

from storage._store import TrialStore


def serve_log_writes(fd: int) -> None:
    """On the connection at ``fd``: the store's URL first (a password stays off the command
    line), then answer each request, ``("write", rows)`` (tuples of PREDICTION_FIELDS) or
    ``("prune", days)``, with ``(True, result)`` or ``(False, why)``, until the server closes
    its end (or exits).
    Ctrl-C and SIGTERM are the server's to act on: it writes what is pending, then closes the
    connection."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        url = conn.recv()
    except (EOFError, OSError):
        return
    store: TrialStore | None = None
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if store is None:  # opened at the first request, again after a failed open
                store = TrialStore(url)
            if kind == "write":
                store.record_prediction_rows(payload)
                result: object = None
            else:
                before = datetime.now(timezone.utc) - timedelta(days=float(payload))
                result = store.prune_predictions(before)
            answer: tuple[bool, object] = (True, result)
        except Exception as exc:  # the database is down or refuses: the server keeps the batch
            answer = (False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        try:
            conn.send(answer)
        except OSError:
            return


__all__ = ["serve_log_writes"]
