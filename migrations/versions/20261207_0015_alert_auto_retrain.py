"""alert_auto_retrain: an alert rule may file a retrain request by itself (alert_rule.auto_retrain), and a
model may name an external retraining pipeline (model_pipeline -> a notify channel with its URL and secret).

Revision ID: 0015_alert_auto_retrain
Revises: 0014_sessions
Create Date: 2026-12-07 18:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0015_alert_auto_retrain'
down_revision: str | None = '0014_sessions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alert_rule') as batch:
        batch.add_column(sa.Column('auto_retrain', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('model_pipeline',
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('model_name')
    )


def downgrade() -> None:
    op.drop_table('model_pipeline')
    with op.batch_alter_table('alert_rule') as batch:
        batch.drop_column('auto_retrain')
