"""models and governance: shadow scores, who ended a deployment, executed approval requests

Revision ID: 0006_models
Revises: 0005_monitoring
Create Date: 2026-11-22 02:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0006_models'
down_revision: str | None = '0005_monitoring'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shadow_score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deployment_id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('predicted_label', sa.Integer(), nullable=False),
    sa.Column('scored_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['deployment_id'], ['deployment.id'], ),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('deployment_id', 'request_id', name='uq_shadow_score')
    )
    with op.batch_alter_table('shadow_score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shadow_score_deployment_id'), ['deployment_id'], unique=False)

    with op.batch_alter_table('deployment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True))

    with op.batch_alter_table('approval_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('executed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('executed_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('approval_request', schema=None) as batch_op:
        batch_op.drop_column('result')
        batch_op.drop_column('executed_by')
        batch_op.drop_column('executed_at')

    with op.batch_alter_table('deployment', schema=None) as batch_op:
        batch_op.drop_column('end_reason')
        batch_op.drop_column('ended_by')

    with op.batch_alter_table('shadow_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shadow_score_deployment_id'))

    op.drop_table('shadow_score')
