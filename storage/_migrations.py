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
from sqlalchemy.engine import Engine

from storage._session import sqlite_file_lock

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
def schema_lock(engine: Engine) -> Iterator[None]:
    """Let one process create or change tables in this database (ours through Alembic, or
    another library's: Optuna's storage) while the others wait. On an empty database two
    processes starting at once otherwise race to create the same tables or types, and one
    dies ("table ... already exists")."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK})
                conn.commit()
        return
    if engine.dialect.name == "sqlite":
        with sqlite_file_lock(engine.url.database):
            yield
        return
    yield


def upgrade_to_head(engine: Engine) -> None:
    """Bring the project's tables to the newest schema; a no-op when already there.

    Several processes may open a new database at once (workers, the dashboard, a search):
    one migrates under the schema lock while the others wait, then Alembic, reading the
    version inside the lock, finds it current and does nothing.
    """
    if current_revision(engine) == head_revision():
        return
    with schema_lock(engine):
        command.upgrade(alembic_config(engine), "head")
