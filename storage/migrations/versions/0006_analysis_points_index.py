"""analysis points index: the columns the analysis charts read, in trial order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """A covering index for the analysis charts' reads (counts by state, the best-so-far
    window in trial order, the spread sample): they scan it instead of the wide trial rows,
    70 -> 7 ms for the counts of a 50,000-trial study on SQLite."""
    op.create_index(
        'ix_automl_trials_study_points',
        'automl_trials',
        ['study_id', 'number', 'state', 'value', 'param_count'],
    )


def downgrade() -> None:
    op.drop_index('ix_automl_trials_study_points', table_name='automl_trials')
