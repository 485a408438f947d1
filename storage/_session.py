"""Where the store lives and how it is reached: the default URL, URL checks, the engine, the
one session scope every store operation goes through, and retries after a lost server."""

from __future__ import annotations

import fcntl
import functools
import inspect
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage._errors import StorageError

#: Where the store lives unless AUTOML_STORAGE or a --storage flag says otherwise.
DEFAULT_STORAGE_URL = "sqlite:///automl.db"
STORAGE_VARIABLE = "AUTOML_STORAGE"
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Waits before each new attempt when the database went away mid-study (a restart, a
#: failover, a network blip): about half a minute in all, then the error stands.
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)

F = TypeVar("F", bound=Callable[..., Any])


def retry_on_disconnect(operation: F) -> F:
    """Run a store method (one transaction) again after a lost server connection, with
    backoff; the method's object says whether its database is a server (``retries``): SQLite
    has no server to lose, and its own busy timeout already waits out locks.

    Safe because a failed transaction was rolled back, and each store operation either
    creates once (get-or-create) or overwrites. The pool's pre-ping then hands out a fresh
    connection."""

    @functools.wraps(operation)
    def attempt(store: Any, *args: Any, **kwargs: Any) -> Any:
        delays = RETRY_DELAYS_S if store.retries else ()
        for delay in (*delays, None):
            try:
                return operation(store, *args, **kwargs)
            except OperationalError:
                if delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    return attempt  # type: ignore[return-value]


def retrying(cls: type) -> type:
    """Every public method of ``cls`` survives a database restart (``retry_on_disconnect``)."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, retry_on_disconnect(member))
    return cls


def lost_connection_reason(exc: BaseException) -> str | None:
    """The driver's first line when ``exc`` comes from a lost connection, else None. Callers
    wrap database errors (Optuna's storage raises StorageInternalError from them); Keras
    re-raises errors from its callbacks ``from None``, which keeps only the implicit context."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OperationalError):
            text = str(cause.orig or cause).strip()
            return text.splitlines()[0][:300] if text else "no message"
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def default_storage_url() -> str:
    """$AUTOML_STORAGE, else DEFAULT_STORAGE_URL: every command and the dashboard read this."""
    return os.environ.get(STORAGE_VARIABLE) or DEFAULT_STORAGE_URL


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise StorageError(
            f"malformed storage URL {url!r}: expected e.g. sqlite:///automl.db "
            "or postgresql+psycopg://user@host/db"
        ) from None


def engine_kwargs(url: str) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` shared with Optuna's RDBStorage."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    return {"pool_pre_ping": True}


@contextmanager
def sqlite_file_lock(database: str | None) -> Iterator[None]:
    """Hold a lock file beside an SQLite database (like its ``-wal``) while changing the
    file's format or tables: SQLite does either outside transactions, so its own locks cannot
    serialise processes starting at once on a new file. No-op in memory or in a folder that
    cannot hold the file (no process can change the database there either)."""
    if database in (None, "", ":memory:"):
        yield
        return
    try:
        lock_file = open(f"{database}-schema-lock", "a")  # noqa: SIM115 (the with below)
    except OSError:
        yield
        return
    with lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _sqlite_connection_setup(database: str | None) -> Callable[[Any, Any], None]:
    def setup(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets the dashboard read while a search writes. Switching a new file to it takes
        # the whole file, and two processes switching at once can fail at random ("database
        # is locked": SQLite skips its busy wait where waiting could deadlock): one at a time.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            with sqlite_file_lock(database):
                cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return setup


def make_engine(url: str, *, plain: bool = False) -> Engine:
    """The project's engine for ``url``; ``plain``: without the SQLite set-up (the switch to
    WAL), for a look that must not change the file."""
    parsed = parse_url(url)
    try:
        engine = create_engine(parsed, **engine_kwargs(url))
    except (ArgumentError, ImportError) as exc:
        raise StorageError(f"unusable storage URL {url!r}: {exc}") from None
    except Exception as exc:  # unknown dialect names raise NoSuchModuleError
        raise StorageError(f"unusable storage URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite" and not plain:
        event.listen(engine, "connect", _sqlite_connection_setup(parsed.database))
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_sqlite_path(url: str, create: bool) -> bool:
    """An SQLite file must exist to be opened, its folder to be created; returns whether
    there is a database to look into (a server's, or an SQLite file that exists)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    if parsed.database in (None, "", ":memory:"):
        return False
    db_path = Path(parsed.database)
    if not create and not db_path.exists():
        raise StorageError(f"no database at {db_path} (run a search first)")
    if create and not db_path.parent.exists():
        raise StorageError(f"directory {db_path.parent} for the database does not exist")
    return db_path.exists()


@contextmanager
def looking_into(url: str) -> Iterator[Connection | None]:
    """A connection that creates and changes nothing (no WAL switch, no schema), or ``None``
    for an SQLite file that does not exist yet; a database that cannot be opened raises."""
    if not check_sqlite_path(url, create=True):
        yield None
        return
    engine = make_engine(url, plain=True)
    try:
        with engine.connect() as conn:
            yield conn
    except DBAPIError as exc:
        raise cannot_open(url, exc) from None
    finally:
        engine.dispose()


def cannot_open(url: str, exc: DBAPIError) -> StorageError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return StorageError(f"cannot open database {redacted(url)}: {reason}")


def redacted(url: str) -> str:
    try:
        return parse_url(url).render_as_string(hide_password=True)
    except StorageError:
        return url
