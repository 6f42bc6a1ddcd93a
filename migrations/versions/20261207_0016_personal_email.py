"""personal_email: a person's own e-mail channel (notify_channel.user_id): the approval requests addressed
to them and the decisions on their own requests, mailed to their account's address.

Revision ID: 0016_personal_email
Revises: 0015_alert_auto_retrain
Create Date: 2026-12-07 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_personal_email'
down_revision: str | None = '0015_alert_auto_retrain'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notify_channel') as batch:
        batch.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_notify_channel_user_id', 'user_account', ['user_id'], ['id'])
        batch.create_index(batch.f('ix_notify_channel_user_id'), ['user_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('notify_channel') as batch:
        batch.drop_index(batch.f('ix_notify_channel_user_id'))
        batch.drop_constraint('fk_notify_channel_user_id', type_='foreignkey')
        batch.drop_column('user_id')
