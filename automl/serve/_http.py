"""HTTP plumbing every protocol shares: limits, errors as JSON, the bearer token, bounded
body reads. No model and no protocol here."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from automl.serve._model import BadInput

#: Request bodies above this are refused with 413 (images for a small CNN are kilobytes).
MAX_BODY_BYTES = 10 * 1024 * 1024
#: A body must arrive within this long (408 past it) ...
BODY_TIMEOUT_S = 30.0
#: ... and never pause for longer than this between two of its pieces.
BODY_IDLE_TIMEOUT_S = 5.0
#: Bytes of request bodies held at once, received or arriving: past this a new piece gets
#: 503. A half-sent body takes no answering slot (``MAX_CONCURRENT_REQUESTS``), only this.
MAX_BODY_BYTES_IN_FLIGHT = 256 * 1024 * 1024
#: At most this many images or tensors in one request.
MAX_BATCH = 256
#: Requests answered at once; past this the app answers 503 instead of queueing without end
#: (connections still sending their head or body do not count: ``_protocol``, ``Admission``).
MAX_CONCURRENT_REQUESTS = 256
#: JSON bodies larger than this are parsed in a worker thread, off the event loop.
INLINE_JSON_BYTES = 64 * 1024
#: The media types a JSON endpoint takes; a body without a Content-Type is taken as JSON.
#: ``application/x-www-form-urlencoded`` is what ``curl -d`` sends, as KServe's and TF
#: Serving's own examples do: a browser form cannot make a JSON body in it (it percent-encodes
#: braces and quotes), unlike a ``text/plain`` form, which is refused. Scripts on other sites
#: that send either are refused by ``check_origin``.
JSON_TYPES = ("application/json", "application/x-www-form-urlencoded", "")
#: The media type of ``POST /predict``'s image files.
FORM_TYPES = ("multipart/form-data",)
#: Paths anyone may call when a token is required: the health probes (``/metrics`` tells who
#: asks for what, so it needs the token too).
OPEN_PATHS = ("/v2/health/",)


#: The names a server bound to loopback answers to: any other Host header is a browser led
#: there by a rebound DNS name (DNS rebinding), refused.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: Methods that change nothing: a cross-site page may send them (they answer nothing secret
#: past the token check).
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class HttpRequest(Request):
    """Starlette's request (its body cache and form parser), with its headers read once into
    ``header`` (lower-case names; a repeated header's first value, as Starlette's ``get``
    gives), since every request's checks look up several (Starlette's ``Headers`` scans its
    list at each lookup), and a plain ``state`` (Starlette's goes through a property and the
    scope)."""

    state: Any = None  # shadows Starlette's property: a plain attribute

    def __init__(self, scope: dict, *receive: Any) -> None:
        super().__init__(scope, *receive)
        self.header: dict[str, str] = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])
        }
        self.state = SimpleNamespace()


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def host_name(header: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:8080`` -> ``::1``; lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def check_origin(request: HttpRequest, allowed_hosts: tuple[str, ...]) -> None:
    """Refuse a request whose Host is not one this server answers to (``*``: any), and an
    unsafe one that a browser sent from another site: by ``Sec-Fetch-Site``, else by an
    ``Origin`` whose host is not the request's own. Clients that are not browsers send
    neither header and are not affected."""
    host = host_name(request.header.get("host", ""))
    if "*" not in allowed_hosts and host not in allowed_hosts:
        raise HTTPError(421, f"this server does not answer to the host name {host!r}")
    if request.method in SAFE_METHODS:
        return
    site = request.header.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise HTTPError(403, f"refused: a {site} request from a web page")
    origin = request.header.get("origin")
    if origin is not None and origin != "null":
        origin_host = host_name(origin.split("://", 1)[-1].split("/", 1)[0])
        if origin_host != host:
            raise HTTPError(403, f"refused: a request from a web page at {origin!r}")
    elif origin == "null":
        raise HTTPError(403, "refused: a request from a web page with an opaque origin")


def check_token(request: HttpRequest, token: str) -> None:
    check_bearer(request.header.get("authorization", ""), token)


def check_bearer(authorization: str, token: str) -> None:
    """401 unless ``authorization`` (the header, or gRPC's metadata) is ``Bearer <token>``."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        raise HTTPError(401, "missing or wrong bearer token")


def check_content_type(request: HttpRequest, accepts: tuple[str, ...]) -> None:
    """415 unless the body's media type is one of ``accepts`` (``""``: none given; a
    ``+json`` type counts as JSON)."""
    media = request.header.get("content-type", "").split(";", 1)[0].strip().lower()
    if media in accepts or (media.endswith("+json") and "application/json" in accepts):
        return
    named = " or ".join(a for a in accepts if a)
    raise HTTPError(415, f"this endpoint takes {named}, not {media or 'a body of no type'}")


class Admission:
    """What the requests of one server hold at once: answering slots (503 past
    MAX_CONCURRENT_REQUESTS) and the bytes of their bodies (503 past
    MAX_BODY_BYTES_IN_FLIGHT). One event loop uses it: no lock."""

    def __init__(
        self,
        slots: int = MAX_CONCURRENT_REQUESTS,
        body_bytes: int = MAX_BODY_BYTES_IN_FLIGHT,
    ) -> None:
        self.slots, self.body_bytes = slots, body_bytes
        self.answering = 0
        self.bytes_held = 0

    def __enter__(self) -> None:
        """``with admission:`` holds one answering slot (503 past them all); a class's context
        manager, not a generator's, since every request enters one."""
        if self.answering >= self.slots:  # really busy: shed the excess
            raise HTTPError(503, "too many requests at once: try again shortly")
        self.answering += 1

    def __exit__(self, *exc_info: object) -> None:
        self.answering -= 1

    def hold(self, size: int) -> None:
        if self.bytes_held + size > self.body_bytes:
            raise HTTPError(503, "too many request bodies arriving at once: try again shortly")
        self.bytes_held += size

    def release(self, size: int) -> None:
        self.bytes_held -= size


def _too_large(limit: int) -> HTTPError:
    shown = f"{limit / (1024 * 1024):.1f} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
    return HTTPError(413, f"request body over {shown}")


def numbers_body_limit(values_per_input: int) -> int:
    """The largest JSON body of numbers worth parsing for a model: MAX_BATCH inputs of
    ``values_per_input`` numbers at up to 24 characters each, plus 64 KB of the rest. Parsing
    a JSON array holds the interpreter (its lock) for every number, in any thread: two clients
    posting 10 MB of numbers raised everyone else's p99 to 1.1 s (BENCHMARKS.md)."""
    return min(MAX_BODY_BYTES, 64 * 1024 + MAX_BATCH * values_per_input * 24)


async def read_body(request: HttpRequest, limit: int, admission: Admission) -> bytes:
    """The whole body, refused past ``limit`` bytes (413), past BODY_TIMEOUT_S or a pause of
    BODY_IDLE_TIMEOUT_S (408), or when the server holds too many bodies' bytes (503). Its
    bytes stay held in ``admission`` until the caller releases ``len(body)``; Starlette keeps
    the body, so ``request.body()`` and ``request.form()`` read it from memory afterwards."""
    declared = request.header.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + BODY_TIMEOUT_S
    chunks: list[bytes] = []
    size = 0
    more = True
    try:
        while more:  # ASGI's messages, not Starlette's stream: one deadline for a small body
            wait = min(BODY_IDLE_TIMEOUT_S, ends_at - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                async with deadline(wait):
                    message = await request.receive()
            except TimeoutError:
                raise HTTPError(408, "request body not received in time") from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk, more = message.get("body", b""), message.get("more_body", False)
            if size + len(chunk) > limit:
                raise _too_large(limit)
            admission.hold(len(chunk))
            size += len(chunk)
            chunks.append(chunk)
    except BaseException:
        admission.release(size)
        raise
    body = b"".join(chunks)
    request._body = body  # Starlette's own cache of the body, which body() and form() read
    return body


def deadline(seconds: float) -> contextlib.AbstractAsyncContextManager:
    """TimeoutError past ``seconds``: ``asyncio.timeout`` (a timer on the running task) where
    there is one, as ``wait_for``'s new task for each piece of a body cost more than the rest
    of reading it."""
    if hasattr(asyncio, "timeout"):  # Python 3.11+
        return asyncio.timeout(seconds)
    return _deadline_by_cancel(seconds)


@contextlib.asynccontextmanager
async def _deadline_by_cancel(seconds: float) -> AsyncIterator[None]:
    task = asyncio.current_task()
    assert task is not None
    expired = [False]

    def expire() -> None:
        expired[0] = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        yield
    except asyncio.CancelledError:
        if expired[0]:
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()


async def json_body(request: HttpRequest) -> Any:
    """The body the app has read, as JSON (see ``parse_json``)."""
    return await parse_json(await request.body())


async def parse_json(text: bytes) -> Any:
    """``text`` as JSON, or BadInput; a large one is parsed in a worker thread, where waiting
    for it does not hold up the event loop's other requests (the parse itself still takes the
    interpreter's lock: see ``numbers_body_limit``)."""
    if len(text) > INLINE_JSON_BYTES:
        return await run_in_threadpool(_parse_json, text)
    return _parse_json(text)


def _parse_json(body: bytes) -> Any:
    """orjson: a body of numbers parses about 7x faster than with ``json``, which was a fifth
    of the server's time on one-image requests (BENCHMARKS.md, *Serving: the server's own
    cost*). Strict JSON: NaN and Infinity are refused, as the JSON standard does."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise BadInput("malformed JSON: nested too deeply") from None
        if "infinity" in str(exc):
            raise BadInput(f"malformed JSON: a number too large to fit FP32 ({exc})") from None
        raise BadInput(f"malformed JSON: {exc}") from None


class Answer:
    """An HTTP answer, sent as ASGI's two messages. (Starlette's ``Response`` built its header
    list, and a mutable view of it for each header added, on every request.)"""

    __slots__ = ("body", "headers", "status_code")

    def __init__(
        self, body: bytes, status_code: int = 200, media_type: str = "application/json"
    ) -> None:
        self.body, self.status_code = body, status_code
        self.headers = [
            (b"content-type", media_type.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]

    def add_header(self, name: str, value: str) -> None:
        self.headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.headers})  # fmt: skip
        await send({"type": "http.response.body", "body": self.body})


def json_answer(content: Any, status_code: int = 200) -> Answer:
    """``content`` as a JSON answer, written by orjson (several times faster than ``json``)."""
    return Answer(orjson.dumps(content), status_code)


def numbers(data: Any) -> np.ndarray:
    """A JSON array of numbers (flat or nested) as a flat float32 array, or BadInput."""
    try:
        array = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BadInput('"data" must be numbers (flat or nested lists) that fit FP32') from None
    if array.dtype != np.float32 or data is None or isinstance(data, (str, bytes)):
        raise BadInput('"data" must be numbers (flat or nested lists)')
    return array.ravel()


__all__ = [
    "BODY_IDLE_TIMEOUT_S",
    "BODY_TIMEOUT_S",
    "FORM_TYPES",
    "INLINE_JSON_BYTES",
    "JSON_TYPES",
    "LOOPBACK_HOSTS",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_BODY_BYTES_IN_FLIGHT",
    "MAX_CONCURRENT_REQUESTS",
    "OPEN_PATHS",
    "SAFE_METHODS",
    "Admission",
    "Answer",
    "HTTPError",
    "HttpRequest",
    "check_bearer",
    "check_content_type",
    "check_origin",
    "check_token",
    "deadline",
    "host_name",
    "json_answer",
    "json_body",
    "numbers",
    "numbers_body_limit",
    "parse_json",
    "read_body",
]
