"""prediction log and the evaluation's confidence profile

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Every answer of `automl serve`, and the test split's confidence histogram as the
    reference that monitoring compares live traffic with."""
    op.create_table(
        'automl_predictions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_name', sa.String(length=128), nullable=False),
        sa.Column('study_name', sa.String(length=128), nullable=True),
        sa.Column('trial_number', sa.Integer(), nullable=True),
        sa.Column('model_sha256', sa.String(length=64), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('endpoint', sa.String(length=64), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('label', sa.Text(), nullable=True),
        sa.Column('confidence', sa.Float(), nullable=True),
        sa.Column('latency_ms', sa.Float(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_automl_predictions_model_time', 'automl_predictions', ['model_name', 'created_at']
    )
    with op.batch_alter_table('automl_evaluations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confidence_histogram', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('automl_evaluations', schema=None) as batch_op:
        batch_op.drop_column('confidence_histogram')
    op.drop_index('ix_automl_predictions_model_time', table_name='automl_predictions')
    op.drop_table('automl_predictions')
