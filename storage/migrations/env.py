"""Alembic environment for the project's own ``automl_*`` tables."""

from alembic import context
from sqlalchemy import create_engine

from storage._migrations import VERSION_TABLE
from storage._models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # Optuna's tables share the database: never autogenerate anything for them.
    return type_ != "table" or name.startswith("automl_")


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=include_object,
        render_as_batch=True,
    )


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(
        config.get_main_option("sqlalchemy.url")
    )
    with engine.begin() as connection:
        _configure(connection)
        context.run_migrations()


run_migrations_online()
