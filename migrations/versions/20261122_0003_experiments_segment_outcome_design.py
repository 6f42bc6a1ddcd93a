"""experiments: exposure segment, conclusion outcome, design record, readout rollups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:07:12.815743
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('design', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('exposure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))

    op.create_table('experiment_exposure_rollup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('variant', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'variant', 'segment', name='uq_experiment_exposure_rollup')
    )
    op.create_table('experiment_rollup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('variant', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('n', sa.Float(), nullable=False),
    sa.Column('sum_y', sa.Float(), nullable=False),
    sa.Column('sum_y2', sa.Float(), nullable=False),
    sa.Column('sum_x', sa.Float(), nullable=False),
    sa.Column('sum_x2', sa.Float(), nullable=False),
    sa.Column('sum_xy', sa.Float(), nullable=False),
    sa.Column('n_pre', sa.Float(), nullable=False),
    sa.Column('min_y', sa.Float(), nullable=True),
    sa.Column('max_y', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('experiment_id', 'variant', 'segment', 'metric', name='uq_experiment_rollup')
    )
    op.create_table('experiment_rollup_state',
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('exposure_rows', sa.Integer(), nullable=False),
    sa.Column('exposure_max_id', sa.Integer(), nullable=False),
    sa.Column('metric_rows', sa.Integer(), nullable=False),
    sa.Column('metric_max_id', sa.Integer(), nullable=False),
    sa.Column('units_total', sa.Integer(), nullable=False),
    sa.Column('multi_units', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('rebuilt_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('refreshed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'], ),
    sa.PrimaryKeyConstraint('experiment_id')
    )


def downgrade() -> None:
    op.drop_table('experiment_rollup_state')
    op.drop_table('experiment_rollup')
    op.drop_table('experiment_exposure_rollup')

    with op.batch_alter_table('exposure', schema=None) as batch_op:
        batch_op.drop_column('segment')

    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.drop_column('design')
        batch_op.drop_column('outcome')
