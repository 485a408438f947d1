"""Shared fixtures: throw-away SQLite and PostgreSQL stores, an S3 server on loopback, a tiny
finished digits study."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Fetched and converted models go to a throw-away cache, never the user's ~/.cache.
os.environ["AUTOML_CACHE_DIR"] = tempfile.mkdtemp(prefix="automl-test-cache-")

PG_ADMIN_URL = os.environ.get(
    "AUTOML_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


#: Fixtures that train a model: a test that uses one is slow, whatever it does itself.
TRAINING_FIXTURES = {"digits_study"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test says what it costs: ``e2e`` under tests/e2e/ and for the browser, ``slow``
    where it trains (marked by hand, or through a fixture that trains), ``fast`` otherwise."""
    for item in items:
        if "e2e" in item.path.parts or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.e2e)
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        if not (item.get_closest_marker("slow") or item.get_closest_marker("e2e")):
            item.add_marker(pytest.mark.fast)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'automl.db'}"


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by every test process of the run (pytest-xdist's workers share the
    parent of their base temporary folders)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, run_folder: Path) -> Iterator[str]:
    """A fresh database on the local server, dropped afterwards. In CI the server must be up.

    Tests in other processes share the server; one marked ``restarts_postgres`` has it alone."""
    alone = request.node.get_closest_marker("restarts_postgres") is not None
    with (run_folder / "postgres.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)  # released on close
        yield from _fresh_database()


def _fresh_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    # pre-ping: a test that restarts the server leaves dead connections in the pool
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"automl_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc.orig}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class S3Server:
    """moto's S3 server in its own process, so that a test can take it away mid-study."""

    endpoint: str
    process: subprocess.Popen

    def bucket(self, name: str = "models") -> str:
        import boto3

        boto3.client("s3").create_bucket(Bucket=name)
        return f"s3://{name}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def s3_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A real S3-compatible server on 127.0.0.1, reached through the usual AWS variables
    (which worker processes inherit). Fetched models are cached under ``tmp_path``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AUTOML_CACHE_DIR": str(tmp_path / "cache"),
    }.items():
        monkeypatch.setenv(name, value)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the moto S3 server did not start") from None
            time.sleep(0.1)
    server = S3Server(endpoint, process)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def digits_study(run_folder: Path):
    """One real search on digits, shared by the read-only tests of every test process (the
    first to need it trains it, the others wait and read it)."""
    from automl import SearchConfig, run_search

    folder = run_folder / "digits_study"
    folder.mkdir(exist_ok=True)
    config = SearchConfig(
        task="digits",
        study_name="digits-shared",
        trials=4,
        epochs=3,
        timeout_s=None,
        storage_url=f"sqlite:///{folder / 'automl.db'}",
        keep_best=2,
        seed=7,
    )
    with (folder / "trained.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "trained").exists():
            run_search(config, log=lambda _msg: None)
            (folder / "trained").touch()
    return config


def copy_study(config, folder: Path) -> str:
    """Copy a finished study (database and saved models) into ``folder``; returns its URL."""
    import shutil
    import sqlite3

    from storage import TrialStore

    source_db = Path(config.storage_url.removeprefix("sqlite:///"))
    shutil.copytree(config.artifacts, folder / "artifacts")
    with sqlite3.connect(source_db) as source, sqlite3.connect(folder / "automl.db") as copy:
        source.backup(copy)  # includes what is still in the WAL
    url = f"sqlite:///{folder / 'automl.db'}"
    store = TrialStore(url)
    for artifact in store.artifacts(config.name):
        moved = folder / "artifacts" / config.name / Path(artifact.location).name
        store.save_artifact(
            config.name, artifact.trial_number, str(moved), artifact.size_bytes, artifact.sha256
        )
    store.close()
    return url


def assert_import_keeps_out(modules: str, forbidden: tuple[str, ...]) -> None:
    """Import ``modules`` in a fresh interpreter and check none of ``forbidden`` came along."""
    import subprocess
    import sys

    code = (
        f"import sys, {modules}; "
        f"bad = [m for m in {forbidden!r} if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
