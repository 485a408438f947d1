"""uvicorn's HTTP/1.1 protocol (httptools, a C parser) with bounds on what a client can make the
server hold before its request reaches the app.

- **A deadline for each request's head.** uvicorn waits for a request's headers as long as
  they keep coming, a byte at a time if need be, and counts every open connection against its
  concurrency limit: a few hundred slow clients held every slot (others got 503) for as long as
  they liked. Here a request's line and headers must arrive within HEAD_TIMEOUT_S of the
  connection opening, or of the previous response on a kept-alive one; a connection that
  misses it is closed. The limit on requests being answered is the app's own
  (``_http.MAX_CONCURRENT_REQUESTS``), so idle and half-sent connections never count against
  it.
- **A size for each head.** httptools keeps whatever line and headers it is sent: past
  MAX_HEAD_BYTES the request is refused (431) and the connection closed.
- **Requests queued behind the one being answered.** httptools parses every pipelined request
  in what it reads at once and queues each; past MAX_PIPELINED the connection is refused (400).

Whatever the parser refuses is answered as the app answers errors: a JSON body.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

#: Seconds a client has to send a request's line and headers (a few hundred bytes).
HEAD_TIMEOUT_S = 5.0
#: Bytes of a request's line and headers (h11's bound, which this server had before httptools).
MAX_HEAD_BYTES = 16 * 1024
#: Requests a connection may send ahead of the answer it waits for.
MAX_PIPELINED = 16
#: Seconds a refused connection stays open, its input dropped, for the client to read why.
LINGER_S = 2.0


class _Refused(Exception):
    """Raised in a parser callback: the parser stops, and uvicorn answers through
    ``send_400_response`` with the status kept on the protocol."""


class HeadDeadlineProtocol(HttpToolsProtocol):
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _refusal: tuple[int, str] | None = None
    _dropping_input = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._dropping_input:
            return
        super().data_received(data)
        if self._head_timer is not None and self._answering():
            self._head_timer.cancel()  # the head is in: the body has deadlines of its own
            self._head_timer = None

    def on_message_begin(self) -> None:
        if self._answering() and len(self.pipeline) >= MAX_PIPELINED:
            self._refuse(400, f"more than {MAX_PIPELINED} requests sent ahead of an answer")
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        """The parser refused the request: answered as JSON, and the connection closed once
        the client has had LINGER_S to read the answer. (Closed at once with the client's
        bytes still arriving, the kernel resets the connection, and the client may lose the
        answer before it reads it.)"""
        status, message = self._refusal or (400, "malformed HTTP request")
        body = json.dumps({"error": message}).encode()
        reason = "Request Header Fields Too Large" if status == 431 else "Bad Request"
        self.transport.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self._dropping_input = True  # what still arrives is read and dropped
        # Half-closed only between requests: an answer still being written (to requests sent
        # ahead of the refused one) could not be written after the end of the output.
        if not self._answering() and self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(431, f"the request's line and headers exceed {MAX_HEAD_BYTES} bytes")

    def _refuse(self, status: int, message: str) -> None:
        self._refusal = (status, message)
        raise _Refused(message)

    def _answering(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self._answering() and not self.transport.is_closing():
            self.transport.close()


__all__ = ["HEAD_TIMEOUT_S", "LINGER_S", "MAX_HEAD_BYTES", "MAX_PIPELINED", "HeadDeadlineProtocol"]
