"""uvicorn's HTTP/1.1 protocol with a deadline for each request's head.

uvicorn waits for a request's headers as long as they keep coming, a byte at a time if need
be, and counts every open connection against its concurrency limit: a few hundred slow
clients held every slot (others got 503) for as long as they liked. Here a request's line and
headers must arrive within HEAD_TIMEOUT_S of the connection opening, or of the previous
response on a kept-alive one; a connection that misses it is closed. The limit on requests
being answered is the app's own (``_http.MAX_CONCURRENT_REQUESTS``), so idle and half-sent
connections never count against it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

#: Seconds a client has to send a request's line and headers (a few hundred bytes).
HEAD_TIMEOUT_S = 5.0


class HeadDeadlineProtocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self._answering():
            self._head_timer.cancel()  # the head is in: the body has deadlines of its own
            self._head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

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


__all__ = ["HEAD_TIMEOUT_S", "HeadDeadlineProtocol"]
