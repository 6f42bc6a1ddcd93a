"""retention_policy and erased_request: a model's retention of raw rows, erased request ids (as hashes)

Revision ID: 0018_retention_erasure
Revises: 0017_monitoring_day_summary
Create Date: 2026-12-07 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0018_retention_erasure'
down_revision: str | None = '0017_monitoring_day_summary'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('retention_policy',
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('keep_days', sa.Integer(), nullable=False),
    sa.Column('purged_before', sa.Date(), nullable=True),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('model_name')
    )
    op.create_table('erased_request',
    sa.Column('request_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('erased_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('erased_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.PrimaryKeyConstraint('request_hash')
    )


def downgrade() -> None:
    op.drop_table('erased_request')
    op.drop_table('retention_policy')
