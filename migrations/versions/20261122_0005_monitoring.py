"""monitoring: columnar day blocks, drift overrides, alert lifecycle columns

Revision ID: 0005_monitoring
Revises: 0003
Create Date: 2026-11-22 02:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005_monitoring'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('drift_override',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('column_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_name', 'column_name', name='uq_drift_override')
    )
    op.create_table('monitoring_block',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_labelled', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('format_version', sa.Integer(), nullable=False),
    sa.Column('built_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_version_id', 'day', name='uq_monitoring_block_day')
    )
    op.create_table('monitoring_sync',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_prediction_id', sa.Integer(), nullable=False),
    sa.Column('last_outcome_id', sa.Integer(), nullable=False),
    sa.Column('synced_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_rule', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column('resolve_comment', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))
        batch_op.add_column(sa.Column('backlog_item_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_alert_state'), ['state'], unique=False)
        batch_op.create_unique_constraint('uq_alert_window', ['rule_id', 'model_version_id', 'window_start', 'window_end'])
        batch_op.create_foreign_key('fk_alert_model_version_id', 'model_version', ['model_version_id'], ['id'])
        batch_op.create_foreign_key('fk_alert_backlog_item_id', 'backlog_item', ['backlog_item_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alert_backlog_item_id', type_='foreignkey')
        batch_op.drop_constraint('fk_alert_model_version_id', type_='foreignkey')
        batch_op.drop_constraint('uq_alert_window', type_='unique')
        batch_op.drop_index(batch_op.f('ix_alert_state'))
        batch_op.drop_column('backlog_item_id')
        batch_op.drop_column('resolve_comment')
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('acknowledged_at')
        batch_op.drop_column('model_version_id')

    with op.batch_alter_table('alert_rule', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
        batch_op.drop_column('updated_by')

    op.drop_table('monitoring_sync')
    op.drop_table('monitoring_block')
    op.drop_table('drift_override')
