"""HTTP plumbing every protocol shares: limits, errors as JSON, the bearer token, bounded
body reads. No model and no protocol here."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from automl.serve._model import BadInput

#: Request bodies above this are refused with 413 (images for a small CNN are kilobytes).
MAX_BODY_BYTES = 10 * 1024 * 1024
#: A client that has not sent its whole body after this long gets 408.
BODY_TIMEOUT_S = 30.0
#: At most this many images or tensors in one request.
MAX_BATCH = 256
#: Requests answered at once; past this the app answers 503 instead of queueing without end
#: (connections still sending their head do not count: ``_protocol``).
MAX_CONCURRENT_REQUESTS = 256
#: JSON bodies larger than this are parsed in a worker thread, off the event loop.
INLINE_JSON_BYTES = 64 * 1024
#: Paths anyone may call when a token is required: the health probes (``/metrics`` tells who
#: asks for what, so it needs the token too).
OPEN_PATHS = ("/v2/health/",)


#: The names a server bound to loopback answers to: any other Host header is a browser led
#: there by a rebound DNS name (DNS rebinding), refused.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: Methods that change nothing: a cross-site page may send them (they answer nothing secret
#: past the token check).
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"no such endpoint: {request.url.path}"}, status_code=404)


async def not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed here"}, status_code=405)


def host_name(header: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:8080`` -> ``::1``; lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def check_origin(request: Request, allowed_hosts: tuple[str, ...]) -> None:
    """Refuse a request whose Host is not one this server answers to (``*``: any), and an
    unsafe one that a browser sent from another site: by ``Sec-Fetch-Site``, else by an
    ``Origin`` whose host is not the request's own. Clients that are not browsers send
    neither header and are not affected."""
    host = host_name(request.headers.get("host", ""))
    if "*" not in allowed_hosts and host not in allowed_hosts:
        raise HTTPError(421, f"this server does not answer to the host name {host!r}")
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise HTTPError(403, f"refused: a {site} request from a web page")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        origin_host = host_name(origin.split("://", 1)[-1].split("/", 1)[0])
        if origin_host != host:
            raise HTTPError(403, f"refused: a request from a web page at {origin!r}")
    elif origin == "null":
        raise HTTPError(403, "refused: a request from a web page with an opaque origin")


def check_token(request: Request, token: str) -> None:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
        raise HTTPError(401, "missing or wrong bearer token")


def _too_large(limit: int) -> HTTPError:
    shown = f"{limit / (1024 * 1024):.1f} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
    return HTTPError(413, f"request body over {shown}")


def numbers_body_limit(values_per_input: int) -> int:
    """The largest JSON body of numbers worth parsing for a model: MAX_BATCH inputs of
    ``values_per_input`` numbers at up to 24 characters each, plus 64 KB of the rest. Parsing
    a JSON array holds the interpreter (its lock) for every number, in any thread: two clients
    posting 10 MB of numbers raised everyone else's p99 to 1.1 s (BENCHMARKS.md)."""
    return min(MAX_BODY_BYTES, 64 * 1024 + MAX_BATCH * values_per_input * 24)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refused past ``limit`` bytes (413) or BODY_TIMEOUT_S (408). Starlette
    keeps it, so ``request.form()`` reads it from memory afterwards."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)

    async def receive_all() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        body = await asyncio.wait_for(receive_all(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise HTTPError(408, f"request body not received within {BODY_TIMEOUT_S:g} s") from None
    request._body = body  # Starlette's own cache of the body, which form() reads
    return body


async def json_body(request: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The body as JSON, refused past ``limit`` bytes; a large one is parsed in a worker
    thread, where waiting for it does not hold up the event loop's other requests (the parse
    itself still takes the interpreter's lock: see ``numbers_body_limit``)."""
    body = await read_body(request, limit)
    if len(body) > INLINE_JSON_BYTES:
        return await run_in_threadpool(_parse_json, body)
    return _parse_json(body)


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise BadInput("malformed JSON: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(f"malformed JSON: {exc}") from None


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
    "BODY_TIMEOUT_S",
    "INLINE_JSON_BYTES",
    "LOOPBACK_HOSTS",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_CONCURRENT_REQUESTS",
    "OPEN_PATHS",
    "SAFE_METHODS",
    "HTTPError",
    "check_origin",
    "check_token",
    "host_name",
    "json_body",
    "not_allowed",
    "not_found",
    "numbers",
    "numbers_body_limit",
    "read_body",
]
