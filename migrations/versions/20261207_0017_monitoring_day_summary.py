"""monitoring_day_summary: per (model version, day) summaries that Monitoring's views merge instead of
reading rows (docs/scale.md)

Revision ID: 0017_monitoring_day_summary
Revises: 0016_personal_email
Create Date: 2026-12-07 17:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0017_monitoring_day_summary'
down_revision: str | None = '0016_personal_email'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('monitoring_day_summary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('format_version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('model_version_id', 'day', name='uq_monitoring_day_summary')
    )


def downgrade() -> None:
    op.drop_table('monitoring_day_summary')
