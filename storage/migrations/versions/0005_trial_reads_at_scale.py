"""trial reads at scale: updated_at and the indexes the dashboard pages by

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Trials say when they last changed, so a live view reads only a study's stamp until
    something changed; (study, value) and (study, updated_at) serve the big studies' sorts.

    The column stays nullable in the database: SQLite cannot add a column with a
    non-constant default; the ORM fills it on every insert and update.
    """
    with op.batch_alter_table('automl_trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE automl_trials SET updated_at = COALESCE(finished_at, started_at)")
    op.create_index('ix_automl_trials_study_updated', 'automl_trials', ['study_id', 'updated_at'])
    if op.get_bind().dialect.name == "postgresql":
        # "Best first" is ORDER BY value DESC NULLS LAST, number: an index in exactly that
        # order serves it from the front (a plain one, scanned backwards, puts NULLs first).
        op.execute(
            "CREATE INDEX ix_automl_trials_study_value ON automl_trials "
            "(study_id, value DESC NULLS LAST, number)"
        )
    else:  # SQLite sorts NULLs first ascending, so last descending: the plain index serves
        op.create_index('ix_automl_trials_study_value', 'automl_trials', ['study_id', 'value'])


def downgrade() -> None:
    op.drop_index('ix_automl_trials_study_value', table_name='automl_trials')
    op.drop_index('ix_automl_trials_study_updated', table_name='automl_trials')
    with op.batch_alter_table('automl_trials', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
