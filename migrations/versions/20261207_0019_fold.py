"""The day summaries' own watermark and each version's summary fields: summaries folded in as data
arrives (services/monitoring/summary_fold.py)

Nothing kept monitoring_day_summary current before this revision, so its rows are removed: the first
monitoring refresh after the upgrade folds every prediction from id 0 (or run
`python -m services monitoring rebuild-summaries`).

Revision ID: 0019_fold
Revises: 0018_retention_erasure
Create Date: 2026-12-07 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from services.core.schema_columns import JsonType

revision: str = '0019_fold'
down_revision: str | None = '0018_retention_erasure'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('monitoring_sync') as batch:
        batch.add_column(sa.Column('summary_prediction_id', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('summary_outcome_id', sa.Integer(), nullable=False, server_default='0'))
    op.create_table('monitoring_summary_schema',
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('fields', JsonType, nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id'], ),
    sa.PrimaryKeyConstraint('model_version_id')
    )
    op.execute('DELETE FROM monitoring_day_summary')


def downgrade() -> None:
    op.drop_table('monitoring_summary_schema')
    with op.batch_alter_table('monitoring_sync') as batch:
        batch.drop_column('summary_outcome_id')
        batch.drop_column('summary_prediction_id')
