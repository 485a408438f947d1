"""One worker of ``automl serve --workers N``: ``_server`` starts N of them on one port through
uvicorn's own supervisor, which restarts one that dies. Each worker loads the model itself (a
study's champion from the conversion cache the parent filled), follows the champion, and writes
its answers to the one prediction log; ``/metrics`` sums every worker's (prometheus_client's
multiprocess mode). Model runtimes get the cores divided among the workers, so that they do not
fight over them."""

from __future__ import annotations

from pathlib import Path

from automl.serve._app import create_app
from automl.serve._log import LogWriterProcess
from automl.serve._server import (
    CHAMPION_POLL_S,
    WorkerSpec,
    model_holder,
    read_token,
)
from storage import TrialStore


def app_from_environment():
    """One worker's app, from the spec the parent put in the environment."""
    spec = WorkerSpec.from_env()
    if spec.model_path is not None:
        holder = model_holder(model_path=Path(spec.model_path))
    else:
        store = TrialStore(spec.storage_url)
        holder = model_holder(store=store, study=spec.study, runtime=spec.runtime)
    holder.follow(CHAMPION_POLL_S)
    token = read_token(
        Path(spec.token_file) if spec.token_file else None, "127.0.0.1", no_auth=True
    )
    writer = LogWriterProcess(spec.storage_url, spec.log_retention_days)  # closed at exit
    return create_app(
        holder,
        token,
        writer.write,
        spec.batch_window_ms,
        Path(spec.keep_inputs) if spec.keep_inputs else None,
        spec.allowed_hosts,
        writer.prune,
        spec.grpc_address,
    )


__all__ = ["app_from_environment"]
