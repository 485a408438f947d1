"""phase and fidelity of trials and epochs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Trials and epochs say their phase, data fraction and images seen.

    Rows written before this revision came from trial-count searches on all the data.
    """
    with op.batch_alter_table('automl_trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phase', sa.String(length=16), server_default='search', nullable=False))
        batch_op.add_column(sa.Column('data_fraction', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('images_seen', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('automl_epochs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_fraction', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('images_seen', sa.Integer(), nullable=True))
    op.execute("UPDATE automl_trials SET data_fraction = 1.0")
    op.execute("UPDATE automl_epochs SET data_fraction = 1.0")


def downgrade() -> None:
    with op.batch_alter_table('automl_epochs', schema=None) as batch_op:
        batch_op.drop_column('images_seen')
        batch_op.drop_column('data_fraction')
    with op.batch_alter_table('automl_trials', schema=None) as batch_op:
        batch_op.drop_column('images_seen')
        batch_op.drop_column('data_fraction')
        batch_op.drop_column('phase')
