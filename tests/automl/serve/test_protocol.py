"""Slow clients on loopback: a request's head must arrive in time, and connections still
sending theirs neither starve other clients nor stay open. Bounded: 200 connections, a few
seconds, closed by the test whatever happens."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import uvicorn

from automl.serve import _protocol
from automl.serve._protocol import HeadDeadlineProtocol


async def _app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@contextlib.contextmanager
def _serving(monkeypatch) -> Iterator[int]:
    """The protocol under uvicorn on a free loopback port, its head deadline 1 s; the port."""
    monkeypatch.setattr(_protocol, "HEAD_TIMEOUT_S", 1.0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(_app, host="127.0.0.1", port=port, log_level="error",
                       http=HeadDeadlineProtocol, timeout_keep_alive=5)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_slow_heads_are_closed_and_never_hold_up_other_clients(monkeypatch) -> None:
    slow: list[socket.socket] = []
    with _serving(monkeypatch) as port:
        opened = time.monotonic()
        for _ in range(200):  # each sends part of a request line, then one byte now and then
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(conn)
        for _ in range(3):  # a well-behaved client meanwhile: answered at once
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                assert reply.read() == b"ok"
            for conn in slow:
                with contextlib.suppress(OSError):  # still trickling: the deadline is for the head
                    conn.sendall(b"a")
            time.sleep(0.3)
        # Past the deadline every slow connection has been closed by the server.
        time.sleep(max(0.0, opened + 2.5 - time.monotonic()))
        closed = 0
        for conn in slow:
            conn.settimeout(2)
            try:
                closed += conn.recv(1024) == b""
            except ConnectionResetError:
                closed += 1
        for conn in slow:
            conn.close()
        assert closed == len(slow)


def _response(conn: socket.socket) -> bytes:
    """One whole response (the app's body comes chunked, ending in an empty chunk)."""
    received = b""
    while not received.endswith(b"0\r\n\r\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_a_kept_alive_connection_gets_a_new_deadline_for_each_head(monkeypatch) -> None:
    """Two requests on one connection, the second's head sent slowly but in time: answered."""
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port), 5) as conn:
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        conn.sendall(request)
        assert b"200 OK" in _response(conn)
        time.sleep(0.6)  # more than half the deadline after the first response...
        conn.sendall(request[:10])
        time.sleep(0.3)  # ...and the rest before it ends
        conn.sendall(request[10:])
        assert b"200 OK" in _response(conn)


def _refusal(conn: socket.socket) -> tuple[int, dict]:
    """The server's answer to a request it refused before the app, then its close."""
    received = b""
    while chunk := conn.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return int(head.split()[1]), json.loads(body)


def test_a_head_past_its_size_is_refused_with_431(monkeypatch) -> None:
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port), 5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        with contextlib.suppress(OSError):  # the server may close before the last header is in
            for _ in range(40):  # 40 headers of 1 KB, in time
                conn.sendall(b"X-Filler: " + b"a" * 1024 + b"\r\n")
        status, answer = _refusal(conn)
    assert status == 431
    assert str(_protocol.MAX_HEAD_BYTES) in answer["error"]


def test_a_head_just_under_its_size_is_answered(monkeypatch) -> None:
    filler = b"X-Filler: " + b"a" * (_protocol.MAX_HEAD_BYTES - 200) + b"\r\n"
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port), 5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + filler + b"\r\n")
        assert b"200 OK" in _response(conn)


def test_requests_piled_up_behind_an_answer_close_the_connection(monkeypatch) -> None:
    """A thousand pipelined requests in one write: a few are queued, not a thousand."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port), 5) as conn:
        conn.sendall(request * 1000)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert received.count(b"200 OK") <= _protocol.MAX_PIPELINED + 1
    assert b"400 Bad Request" in received and b"ahead of an answer" in received


def test_a_few_pipelined_requests_are_all_answered(monkeypatch) -> None:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port), 5) as conn:
        conn.sendall(
            request * 4 + b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    assert received.count(b"200 OK") == 5


def test_a_malformed_request_gets_a_json_400(monkeypatch) -> None:
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port), 5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n")  # no colon
        status, answer = _refusal(conn)
    assert status == 400 and answer == {"error": "malformed HTTP request"}
