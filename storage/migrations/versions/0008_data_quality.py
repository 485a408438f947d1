"""data quality: inspect's reports and findings, the dashboard's overrides, the data an
evaluation was read with and its answer for each test image

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """`automl inspect` stores what it found with the study (the dashboard's Data page reads
    it from here, never from the files); decisions on images are kept per study."""
    op.create_table(
        'automl_data_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('study_id', sa.Integer(), nullable=False),
        sa.Column('images', sa.Integer(), nullable=False),
        sa.Column('overrides_sha256', sa.String(length=64), nullable=True),
        sa.Column('images_file', sa.Text(), nullable=True),
        sa.Column('summary', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['study_id'], ['automl_studies.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('study_id'),
    )
    op.create_table(
        'automl_data_findings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('paths', sa.JSON(), nullable=False),
        sa.Column('splits', sa.JSON(), nullable=False),
        sa.Column('rows', sa.JSON(), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('label', sa.Text(), nullable=True),
        sa.Column('suggested', sa.Text(), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['report_id'], ['automl_data_reports.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_automl_data_findings_rank', 'automl_data_findings', ['report_id', 'kind', 'rank']
    )
    op.create_table(
        'automl_data_overrides',
        sa.Column('study_id', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=1024), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('label', sa.Text(), nullable=True),
        sa.Column('author', sa.String(length=255), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['study_id'], ['automl_studies.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('study_id', 'path'),
    )
    with op.batch_alter_table('automl_evaluations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('overrides_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('images_file', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('images_first_row', sa.Integer(), nullable=True))
    op.create_table(
        'automl_test_predictions',
        sa.Column('evaluation_id', sa.Integer(), nullable=False),
        sa.Column('row', sa.Integer(), nullable=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('label', sa.Integer(), nullable=False),
        sa.Column('predicted', sa.Integer(), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['evaluation_id'], ['automl_evaluations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('evaluation_id', 'row'),
    )
    op.create_index(
        'ix_automl_test_predictions_cell', 'automl_test_predictions',
        ['evaluation_id', 'label', 'predicted', 'confidence'],
    )


def downgrade() -> None:
    op.drop_index('ix_automl_test_predictions_cell', table_name='automl_test_predictions')
    op.drop_table('automl_test_predictions')
    with op.batch_alter_table('automl_evaluations', schema=None) as batch_op:
        batch_op.drop_column('images_first_row')
        batch_op.drop_column('images_file')
        batch_op.drop_column('overrides_sha256')
    op.drop_table('automl_data_overrides')
    op.drop_index('ix_automl_data_findings_rank', table_name='automl_data_findings')
    op.drop_table('automl_data_findings')
    op.drop_table('automl_data_reports')
