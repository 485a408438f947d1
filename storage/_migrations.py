"""Schema versions through Alembic, in its own version table so it never meets Optuna's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "automl_alembic_version"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


#: Any constant works: it names the PostgreSQL advisory lock that serialises schema changes.
_SCHEMA_LOCK = 0x6175746F6D6C  # "automl"


@contextmanager
def _locked(conn: Connection) -> Iterator[None]:
    conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK})
    conn.commit()
    try:
        yield
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK})
        conn.commit()


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Hold the schema lock while another library creates its tables (Optuna's storage):
    on an empty PostgreSQL database two workers starting at once otherwise race to create
    the same types and one dies. SQLite serialises schema changes itself."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn, _locked(conn):
        yield


def upgrade_to_head(engine: Engine) -> None:
    """Bring the project's tables to the newest schema; a no-op when already there.

    On PostgreSQL several workers may start at once: the schema lock lets one migrate while
    the others wait, then find the schema current.
    """
    if current_revision(engine) == head_revision():
        return
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), "head")
        return
    with engine.connect() as conn, _locked(conn):
        config = alembic_config(engine)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
