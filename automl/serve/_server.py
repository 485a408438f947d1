"""`automl serve`: a model behind a real HTTP server (uvicorn), safe by default."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from automl._errors import AutoMLError
from automl.release import RUNTIME_THREADS_ENV
from automl.serve._holder import ModelHolder
from automl.serve._http import LOOPBACK_HOSTS, host_name
from automl.serve._log import LogWriterProcess
from automl.serve._model import RUNTIMES, ServedModel
from automl.serve._protocol import HeadDeadlineProtocol
from storage import TrialStore

#: How often a server that follows a study's champion looks for a new one.
CHAMPION_POLL_S = 5.0
#: Freed blocks this large go back to the system at once (``return_freed_memory``).
MMAP_THRESHOLD = 1024 * 1024


@dataclass(frozen=True)
class ServeConfig:
    """Where and how ``automl serve`` answers; the command's flags default to these fields."""

    #: Loopback unless asked: any other address needs a token (or an explicit --no-auth).
    host: str = "127.0.0.1"
    port: int = 8080
    #: What runs a study's champion (BENCHMARKS.md compares them).
    runtime: str = "onnx"
    #: Requests that arrive while the model is busy share its next call; this makes the
    #: first of them also wait this long for more (0: none, which gave 1.4x the requests per
    #: second of a 2 ms window: BENCHMARKS.md, *Serving: the server's own cost*).
    batch_window_ms: float = 0.0
    #: The Host names it answers to; empty: the loopback names when bound to loopback, any
    #: other way (a token guards it there). A browser led by a rebound DNS name is refused.
    allowed_hosts: tuple[str, ...] = ()
    #: Days an answer stays in the prediction log (0: for ever); older ones are deleted hourly.
    log_retention_days: float = 30.0
    #: Processes answering on the port, the cores divided among their model runtimes: 2 on 2
    #: cores answered 1.4-2.1x the small JSON requests of 1, and 0.75x the images in binary
    #: batches of 64 (BENCHMARKS.md, *Serving: workers*): one is the default, with one model
    #: in memory and one log writer.
    workers: int = 1
    #: Where v2 gRPC answers beside HTTP (KServe's port is 8081); None: HTTP only, so that a
    #: server never fails to start for a port it was not asked to take.
    grpc_port: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise AutoMLError(f"--port must be 1-65535, got {self.port}")
        if self.grpc_port is not None and not (
            0 < self.grpc_port < 65536 and self.grpc_port != self.port
        ):
            raise AutoMLError(f"--grpc-port must be 1-65535 and not --port, got {self.grpc_port}")
        if not 0 <= self.batch_window_ms <= 1000:
            raise AutoMLError(f"--batch-window-ms must be 0-1000, got {self.batch_window_ms:g}")
        if not self.allowed_hosts:
            default = LOOPBACK_HOSTS if is_loopback(self.host) else ("*",)
            object.__setattr__(self, "allowed_hosts", default)
        object.__setattr__(
            self, "allowed_hosts", tuple(host_name(h) for h in self.allowed_hosts if h.strip())
        )
        if self.log_retention_days < 0:
            raise AutoMLError(
                f"--log-retention-days must be 0 (keep) or more, got {self.log_retention_days:g}"
            )
        if not 1 <= self.workers <= 64:
            raise AutoMLError(f"--workers must be 1-64, got {self.workers}")
        if self.runtime not in RUNTIMES:
            raise AutoMLError(
                f"unknown --runtime {self.runtime!r}; choose from {', '.join(RUNTIMES)}"
            )


#: The environment variable a worker reads its ``WorkerSpec`` from (JSON).
SPEC_ENV = "AUTOML_SERVE_WORKER"
#: Where the workers keep their metrics for one another (prometheus_client's own variable).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to build its app, as JSON-able values: no token in it (a worker
    reads the token file itself), no open store or model."""

    storage_url: str
    model_path: str | None = None
    study: str | None = None
    runtime: str = "onnx"
    token_file: str | None = None
    batch_window_ms: float = 0.0
    keep_inputs: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    log_retention_days: float = 0.0
    grpc_address: str | None = None

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> WorkerSpec:
        values = json.loads(os.environ[SPEC_ENV])
        values["allowed_hosts"] = tuple(values["allowed_hosts"])
        return cls(**values)


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def return_freed_memory() -> None:
    """Have glibc give large freed blocks back at once: each decoded image is tens of MB, and
    with glibc's defaults every worker thread keeps its own arena of them (a burst of 16 large
    images left the server 850 MB larger, and so it stayed; with two arenas and a fixed
    threshold for mmap'd blocks, 150-230 MB, given back after; BENCHMARKS.md). The threshold
    is 1 MB, above the 256 KB buffer asyncio's own loop (where uvloop is not installed)
    allocates for every read from a socket: at 128 KB each request paid for an mmap, an
    mremap and an munmap of it. No-op off glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_mmap_threshold, m_arena_max = -3, -8
    mallopt(m_arena_max, 2)
    mallopt(m_mmap_threshold, MMAP_THRESHOLD)


def grpc_address(host: str, port: int | None) -> str | None:
    """gRPC's ``host:port`` (an IPv6 address in brackets), or None without a port."""
    if port is None:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_free(host: str, port: int, flag: str) -> None:
    """One line, before anything starts, when the port is taken (each server would otherwise
    fail in its own words, after loading the model)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AutoMLError(f"{flag} {port}: cannot listen on {host}: {exc.strerror}") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token_file: Path | None, host: str, no_auth: bool) -> str | None:
    """The bearer token; off loopback one is required unless ``--no-auth`` says otherwise."""
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise AutoMLError(f"cannot read --token-file {token_file}: {exc.strerror}") from None
        if len(token) < 16:
            raise AutoMLError(f"the token in {token_file} is too short (16 characters at least)")
        return token
    if not is_loopback(host) and not no_auth:
        raise AutoMLError(
            f"serving on {host} (not loopback) needs --token-file FILE, or --no-auth to expose "
            "the model to anyone who can reach the port"
        )
    return None


def model_holder(
    *,
    model_path: Path | None = None,
    store: TrialStore | None = None,
    study: str | None = None,
    runtime: str = "onnx",
) -> ModelHolder:
    """A fixed file, or a study's champion (followed: see ``ModelHolder.follow``)."""
    if model_path is not None:
        return ModelHolder(ServedModel.from_file(model_path))
    assert store is not None and study is not None

    def champion() -> int | None:
        record = store.champion(study)
        return record.number if record is not None else None

    def load() -> ServedModel:
        return ServedModel.from_study(store, study, runtime)

    return ModelHolder(load(), champion, load)


def serve(
    holder: ModelHolder,
    host: str,
    port: int,
    token: str | None,
    store: TrialStore | None,
    batch_window_ms: float = 0.0,
    keep_inputs: Path | None = None,
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
    log_retention_days: float = 0.0,
    workers: int = 1,
    worker_spec: WorkerSpec | None = None,
    grpc_port: int | None = None,
) -> None:
    """Answer requests until Ctrl-C or SIGTERM (uvicorn's graceful shutdown). With
    ``workers`` > 1, ``worker_spec`` says how each worker process builds the same app.
    ``grpc_port``: v2 gRPC on this port too."""
    import uvicorn

    return_freed_memory()

    from automl.serve._app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    info = holder.current.info
    source = f"trial {info.trial} of {info.study!r}" if info.study else str(holder.current.path)
    where = (
        f"; predictions logged to {store.engine.url.render_as_string(hide_password=True)}"
        if store
        else ""
    )
    address = grpc_address(host, grpc_port)
    logging.getLogger("automl.serve").info(
        "serving %r (%s, %s runtime, sha256 %s) on http://%s:%d%s%s%s%s",
        info.name, source, info.format, info.sha256[:12], host, port,
        f" and gRPC {address}" if address else "",
        " (bearer token required)" if token else "", where,
        f"; {workers} workers" if workers > 1 else "",
    )  # fmt: skip
    if workers > 1:
        assert worker_spec is not None
        holder.close()  # each worker loads its own (a champion from the cache just filled)
        _serve_workers(host, port, workers, worker_spec)
        return
    holder.follow(CHAMPION_POLL_S)
    writer = LogWriterProcess(store.url, log_retention_days) if store else None
    try:
        uvicorn.run(
            create_app(
                holder,
                token,
                writer.write if writer else None,
                batch_window_ms,
                keep_inputs,
                allowed_hosts,
                writer.prune if writer else None,
                address,
            ),
            host=host,
            port=port,
            log_level="warning",
            timeout_keep_alive=5,
            http=HeadDeadlineProtocol,  # slow heads closed; the app caps requests in flight
            proxy_headers=False,  # nothing reads the client's address: not worth a layer
        )
    finally:
        holder.close()
        if writer is not None:
            writer.close()


def _serve_workers(host: str, port: int, workers: int, spec: WorkerSpec) -> None:
    import uvicorn

    metrics = tempfile.mkdtemp(prefix="automl-serve-metrics-")
    os.environ[METRICS_DIR_ENV] = metrics  # read by prometheus_client as each worker starts
    os.environ[SPEC_ENV] = spec.to_env()
    os.environ[RUNTIME_THREADS_ENV] = str(threads_per_worker(workers))
    try:
        uvicorn.run(
            "automl.serve._workers:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
            timeout_keep_alive=5,
            http=HeadDeadlineProtocol,
            proxy_headers=False,
        )
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


__all__ = [
    "CHAMPION_POLL_S",
    "ServeConfig",
    "WorkerSpec",
    "is_loopback",
    "model_holder",
    "read_token",
    "serve",
]
