"""What every request passes on a real server on loopback: the media types each endpoint
takes, bodies that arrive slowly or not at all, and what a body-less or half-sent request may
hold of the server."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from automl.serve._http import MAX_CONCURRENT_REQUESTS, Admission, HTTPError
from tests.automl.serve.conftest import AUTH, LinearServer

ZEROS = {"inputs": [{"name": "input", "shape": [1, 8, 8, 1], "datatype": "FP32",
                     "data": [0.0] * 64}]}  # fmt: skip


def _post(url: str, body: bytes, content_type: str | None) -> tuple[int, dict]:
    headers = dict(AUTH) | ({"Content-Type": content_type} if content_type else {})
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    if content_type is None:
        request.remove_header("Content-type")  # urllib adds form-urlencoded by itself
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("application/json; charset=utf-8", 200),
        (None, 200),  # requests' data=, wrk: no Content-Type
        ("application/x-www-form-urlencoded", 200),  # curl -d, as KServe's examples
        ("text/plain", 415),  # what a cross-site form can send as JSON
        ("multipart/form-data; boundary=x", 415),
        ("image/png", 415),
    ],
)
def test_json_endpoints_take_the_types_they_document(
    linear_server: LinearServer, content_type: str | None, status: int
) -> None:
    code, answer = _post(
        f"{linear_server.url}/v2/models/shapes/infer", json.dumps(ZEROS).encode(), content_type
    )
    assert code == status, answer
    if status == 415:
        assert "application/json" in answer["error"]


def test_predict_takes_only_multipart_files(linear_server: LinearServer) -> None:
    code, answer = _post(
        f"{linear_server.url}/predict", json.dumps(ZEROS).encode(), "application/json"
    )
    assert code == 415 and "multipart/form-data" in answer["error"]


def test_the_server_says_what_it_is(linear_server: LinearServer) -> None:
    request = urllib.request.Request(f"{linear_server.url}/v2", headers=AUTH)
    with urllib.request.urlopen(request, timeout=10) as reply:
        answer = json.load(reply)
    assert answer["name"] == "automl-serve" and answer["extensions"] == ["binary_tensor_data"]
    assert answer["version"]


@contextlib.contextmanager
def _half_sent(port: int, count: int):
    """``count`` connections that sent a request's head and 10 of its 1,000 body bytes."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(
                b"POST /v2/models/shapes/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: {AUTH['Authorization']}\r\n".encode()
                + b'Content-Length: 1000\r\n\r\n{"inputs":'
            )
            held.append(conn)
        yield held
    finally:
        for conn in held:
            conn.close()


def test_half_sent_bodies_take_no_answering_slot(linear_server: LinearServer) -> None:
    port = int(linear_server.url.rsplit(":", 1)[1])
    with _half_sent(port, MAX_CONCURRENT_REQUESTS + 44):  # more than the cap on answering
        time.sleep(0.5)  # every head read, every body waiting
        url = f"{linear_server.url}/v2/models/shapes/infer"
        for _ in range(5):
            code, answer = _post(url, json.dumps(ZEROS).encode(), "application/json")
            assert code == 200, answer


def test_a_body_that_stops_arriving_gets_408(
    linear_server: LinearServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("automl.serve._http.BODY_IDLE_TIMEOUT_S", 0.5)
    port = int(linear_server.url.rsplit(":", 1)[1])
    started = time.monotonic()
    with _half_sent(port, 1) as (conn,):
        reply = b""
        while chunk := conn.recv(65536):  # to the end: the server closes it, not kept alive
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 408") and b"connection: close" in reply.lower(), reply
    assert time.monotonic() - started < 5  # its pause, not the 30 s for the whole body


def test_body_bytes_held_at_once_are_bounded() -> None:
    admission = Admission(slots=2, body_bytes=1000)
    admission.hold(600)
    with pytest.raises(HTTPError) as busy:
        admission.hold(500)
    assert busy.value.status == 503
    admission.release(600)
    admission.hold(1000)
    with admission, admission, pytest.raises(HTTPError) as full, admission:
        pass
    assert full.value.status == 503 and admission.answering == 0


def test_the_deadline_without_asyncio_timeout_expires_and_lets_others_cancel() -> None:
    """Python 3.10 has no ``asyncio.timeout``: the body deadline's own timer stands in."""
    import asyncio

    from automl.serve._http import _deadline_by_cancel

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with _deadline_by_cancel(0.05):
                await asyncio.sleep(5)
        async with _deadline_by_cancel(5):  # in time: nothing raised, the timer cancelled
            await asyncio.sleep(0)
        waiting = asyncio.ensure_future(_sleep_under(_deadline_by_cancel(5)))
        await asyncio.sleep(0.01)
        waiting.cancel()  # a cancel from elsewhere stays a cancel
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())


async def _sleep_under(deadline) -> None:
    import asyncio

    async with deadline:
        await asyncio.sleep(5)
