"""experiments: any number of cohort fields per exposure (a JSON column replacing `segment`), rollups
keyed by (field, value), and experiment guard-rail alerts in the alert table (their experiment and
signature)

The legacy `segment` values become the cohort field "segment". The rollups are derived data: they are
recreated empty and rebuilt on the next readout (their state rows are removed).

Revision ID: 0008_experiment_cohorts
Revises: 0007_backlog
Create Date: 2026-12-03 12:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0008_experiment_cohorts'
down_revision: str | None = '0007_backlog'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
CHUNK = 10_000


def _rollup_tables(with_field: bool) -> None:
    field = [sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False)] if with_field else []
    keys = ['experiment_id', 'variant', *(['field'] if with_field else []), 'segment']
    op.create_table('experiment_exposure_rollup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('variant', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    *field,
    sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint(*keys, name='uq_experiment_exposure_rollup')
    )
    field = [sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False)] if with_field else []
    op.create_table('experiment_rollup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=False),
    sa.Column('variant', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    *field,
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
    sa.UniqueConstraint(*keys, 'metric', name='uq_experiment_rollup')
    )


def _reset_rollups(with_field: bool) -> None:
    op.execute('DELETE FROM experiment_rollup_state')
    op.drop_table('experiment_rollup')
    op.drop_table('experiment_exposure_rollup')
    _rollup_tables(with_field)


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table('exposure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cohorts', JSON, nullable=True))
    exposure = sa.table('exposure', sa.column('id', sa.Integer), sa.column('segment', sa.String),
                        sa.column('cohorts', JSON))
    rows = conn.execute(
        sa.select(exposure.c.id, exposure.c.segment).where(exposure.c.segment.is_not(None), exposure.c.segment != '')
    ).all()
    update = sa.update(exposure).where(exposure.c.id == sa.bindparam('b_id')).values(cohorts=sa.bindparam('b_cohorts'))
    for start in range(0, len(rows), CHUNK):
        conn.execute(update, [{'b_id': i, 'b_cohorts': {'segment': s}} for i, s in rows[start:start + CHUNK]])
    with op.batch_alter_table('exposure', schema=None) as batch_op:
        batch_op.drop_column('segment')

    _reset_rollups(with_field=True)

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('experiment_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_alert_experiment_id'), ['experiment_id'], unique=False)
        batch_op.create_unique_constraint('uq_alert_experiment_signature', ['experiment_id', 'signature'])
        batch_op.create_foreign_key('fk_alert_experiment_id', 'experiment', ['experiment_id'], ['id'])


def downgrade() -> None:
    conn = op.get_bind()
    op.execute('DELETE FROM alert WHERE experiment_id IS NOT NULL')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alert_experiment_id', type_='foreignkey')
        batch_op.drop_constraint('uq_alert_experiment_signature', type_='unique')
        batch_op.drop_index(batch_op.f('ix_alert_experiment_id'))
        batch_op.drop_column('signature')
        batch_op.drop_column('experiment_id')

    _reset_rollups(with_field=False)

    with op.batch_alter_table('exposure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segment', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    exposure = sa.table('exposure', sa.column('id', sa.Integer), sa.column('segment', sa.String),
                        sa.column('cohorts', JSON))
    rows = [(i, c.get('segment')) for i, c in conn.execute(
        sa.select(exposure.c.id, exposure.c.cohorts).where(exposure.c.cohorts.is_not(None))
    ).all() if isinstance(c, dict) and c.get('segment') is not None]
    update = sa.update(exposure).where(exposure.c.id == sa.bindparam('b_id')).values(segment=sa.bindparam('b_seg'))
    for start in range(0, len(rows), CHUNK):
        conn.execute(update, [{'b_id': i, 'b_seg': str(s)[:200]} for i, s in rows[start:start + CHUNK]])
    with op.batch_alter_table('exposure', schema=None) as batch_op:
        batch_op.drop_column('cohorts')
