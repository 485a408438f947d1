"""Putting results in front of people: ``automl serve``, ``dashboard`` and
``hash-password`` (the dashboard's, run as its own process: data flows into the dashboard,
never out of it)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from automl._errors import AutoMLError
from automl.cli._common import Command, add_storage, defaults_of
from automl.cli._release import needs_tensorflow
from automl.serve import ServeConfig
from storage import TrialStore

SERVE = defaults_of(ServeConfig)
#: ``automl dashboard``'s address: loopback unless asked (then read-only until sign-in).
DASHBOARD_HOST = "127.0.0.1"
DASHBOARD_PORT = 8501


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--study", help="serve the study's champion, and follow it when it changes")
    source.add_argument("--model", type=Path, help="an exported model (its card beside it)")
    parser.add_argument(
        "--host",
        default=SERVE["host"],
        help="another address needs --token-file (default %(default)s)",
    )
    parser.add_argument("--port", type=int, default=SERVE["port"], help="(default %(default)s)")
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=SERVE["grpc_port"],
        help="also answer KServe v2 gRPC on this port, with the same token, limits, metrics and "
        "log (KServe's is 8081; default: off)",
    )
    parser.add_argument(
        "--runtime",
        default=SERVE["runtime"],
        help="onnx, onnx-int8, tflite, tflite-int8 or keras: what runs a --study's champion (default %(default)s; "
        "BENCHMARKS.md)",
    )
    parser.add_argument("--token-file", type=Path, help="a file holding the bearer token")
    parser.add_argument(
        "--allowed-hosts",
        type=lambda text: tuple(text.split(",")),
        default=SERVE["allowed_hosts"],
        help="the host names it answers to, comma-separated, or '*' (default: the loopback "
        "names when bound to loopback, else any)",
    )
    parser.add_argument(
        "--batch-window-ms",
        type=float,
        default=SERVE["batch_window_ms"],
        help="requests that arrive while the model is busy share its next call; the first "
        "also waits this long for more (default %(default)g)",
    )
    parser.add_argument(
        "--no-auth", action="store_true", help="off loopback, serve without a token (not advised)"
    )
    parser.add_argument(
        "--log-retention-days",
        type=float,
        default=SERVE["log_retention_days"],
        help="days an answer stays in the prediction log, older ones deleted hourly "
        "(0: for ever; default %(default)g)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=SERVE["workers"],
        help="processes answering on the port, the cores divided among them (default %(default)s)",
    )
    parser.add_argument(
        "--keep-inputs",
        type=Path,
        metavar="DIR",
        help="save each answered request's inputs (as the model saw them) as DIR/<request id>-<12 hex>.npy",
    )
    add_storage(parser)


def serve(args: argparse.Namespace) -> int:
    from automl._quiet import quiet_logs
    from automl.serve import WorkerSpec, check_free, grpc_address, model_holder, read_token
    from automl.serve import serve as run_server

    config = ServeConfig(
        args.host,
        args.port,
        args.runtime,
        args.batch_window_ms,
        args.allowed_hosts,
        args.log_retention_days,
        args.workers,
        args.grpc_port,
    )
    token = read_token(args.token_file, config.host, args.no_auth)
    check_free(config.host, config.port, "--port")
    if config.grpc_port is not None:
        check_free(config.host, config.grpc_port, "--grpc-port")
    if args.keep_inputs is not None:
        try:
            args.keep_inputs.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AutoMLError(f"--keep-inputs {args.keep_inputs}: {exc.strerror}") from None
    store = TrialStore(args.storage)  # the prediction log goes here, also for --model
    if args.study is not None:
        store.get_study(args.study)
    if args.model is not None:
        quiet_logs(start_tensorflow=needs_tensorflow(args.model))
        holder = model_holder(model_path=args.model)
    else:
        # On ONNX Runtime a champion starts TensorFlow only to be converted when it is not in
        # the cache yet (``ServedModel.from_study``): a restarted server runs without it.
        quiet_logs(start_tensorflow=config.runtime != "onnx")
        holder = model_holder(store=store, study=args.study, runtime=config.runtime)
    try:
        run_server(
            holder,
            config.host,
            config.port,
            token,
            store,
            config.batch_window_ms,
            args.keep_inputs,
            config.allowed_hosts,
            config.log_retention_days,
            config.workers,
            WorkerSpec(
                storage_url=store.engine.url.render_as_string(hide_password=False),
                model_path=str(args.model.resolve()) if args.model is not None else None,
                study=args.study,
                runtime=config.runtime,
                token_file=str(args.token_file.resolve()) if args.token_file else None,
                batch_window_ms=config.batch_window_ms,
                keep_inputs=str(args.keep_inputs.resolve()) if args.keep_inputs else None,
                allowed_hosts=config.allowed_hosts,
                log_retention_days=config.log_retention_days,
                grpc_address=grpc_address(config.host, config.grpc_port),
            ),
            config.grpc_port,
        )
    finally:
        store.close()
    return 0


def _prune_log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--older-than",
        type=float,
        required=True,
        metavar="DAYS",
        help="delete the prediction-log entries older than this many days",
    )
    add_storage(parser)


def prune_log(args: argparse.Namespace) -> int:
    if not args.older_than >= 0:
        raise AutoMLError(f"--older-than must be 0 days or more, got {args.older_than:g}")
    before = datetime.now(timezone.utc) - timedelta(days=args.older_than)
    deleted = TrialStore(args.storage, create=False).prune_predictions(before)
    print(f"deleted {deleted:,} prediction-log entries from before {before:%Y-%m-%d %H:%M} UTC")
    return 0


def _dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=DASHBOARD_HOST,
        help="0.0.0.0 opens it to the network, read-only until a viewer signs in",
    )
    parser.add_argument("--port", type=int, default=DASHBOARD_PORT, help="(default %(default)s)")
    add_storage(parser)


def dashboard(args: argparse.Namespace) -> int:
    from importlib.util import find_spec

    spec = find_spec("dashboard")  # located, not imported: it runs as its own process
    assert spec is not None and spec.origin is not None
    app = Path(spec.origin).parent / "app.py"
    env = dict(os.environ, AUTOML_STORAGE=args.storage)  # public or not: the app reads --host
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", args.host,
        "--server.port", str(args.port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button
        "--server.enableXsrfProtection", "true",
    ]  # fmt: skip
    print(f"dashboard on http://{args.host}:{args.port} reading {args.storage}")
    return subprocess.call(command, env=env)


def hash_password(args: argparse.Namespace) -> int:
    return subprocess.call([sys.executable, "-m", "dashboard.auth"])


COMMANDS = {
    "serve": Command(
        "answer predictions over HTTP (KServe v2, TF Serving REST, /predict)",
        _serve_arguments,
        serve,
    ),
    "prune-log": Command(
        "delete old prediction-log entries (automl serve also does, hourly)",
        _prune_log_arguments,
        prune_log,
    ),
    "dashboard": Command("serve the results dashboard", _dashboard_arguments, dashboard),
    "hash-password": Command(
        "the dashboard password's hash, for AUTOML_DASHBOARD_PASSWORD_HASH",
        lambda parser: None,
        hash_password,
    ),
}

__all__ = ["COMMANDS"]
