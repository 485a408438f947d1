"""Schema versions through Alembic, in its own version table so it never meets Optuna's."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

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


#: Any constant works: it names the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK = 0x6175746F6D6C  # "automl"


def upgrade_to_head(engine: Engine) -> None:
    """Bring the project's tables to the newest schema; a no-op when already there.

    On PostgreSQL several workers may start at once: an advisory lock lets one migrate while
    the others wait, then find the schema current.
    """
    if current_revision(engine) == head_revision():
        return
    if engine.dialect.name != "postgresql":
        command.upgrade(alembic_config(engine), "head")
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
        try:
            config = alembic_config(engine)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
            conn.commit()
