"""backlog: evidence links, RICE/WSJF scoring, outcome on close, decided system proposals

Revision ID: 0007_backlog
Revises: 0006_models
Create Date: 2026-11-22 02:37:54.094548
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = '0007_backlog'
down_revision: str | None = '0006_models'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('backlog_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('ref_type', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('ref_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('added_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('added_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['backlog_item.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('item_id', 'ref_type', 'ref_id', name='uq_backlog_evidence')
    )
    with op.batch_alter_table('backlog_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_backlog_evidence_item_id'), ['item_id'], unique=False)

    op.create_table('backlog_proposal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['backlog_item.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('backlog_item', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('scoring', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default='rice')
        )
        batch_op.add_column(sa.Column('reach_basis', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column('business_value', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('time_criticality', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('risk_reduction', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('job_size', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('outcome_metric', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('outcome_before', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('outcome_after', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('proposal_key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.create_index(batch_op.f('ix_backlog_item_status'), ['status'], unique=False)
        batch_op.create_unique_constraint('uq_backlog_item_proposal_key', ['proposal_key'])

    # Items filed before this revision (from an alert or a theme) get their source as a typed evidence link.
    op.execute(
        "INSERT INTO backlog_evidence (item_id, ref_type, ref_id, label, added_by, added_at) "
        "SELECT id, source_type, source_id, '', created_by, created_at FROM backlog_item "
        "WHERE source_type IN ('alert', 'theme', 'experiment') AND source_id IS NOT NULL"
    )



def downgrade() -> None:
    with op.batch_alter_table('backlog_item', schema=None) as batch_op:
        batch_op.drop_constraint('uq_backlog_item_proposal_key', type_='unique')
        batch_op.drop_index(batch_op.f('ix_backlog_item_status'))
        batch_op.drop_column('version')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('updated_by')
        batch_op.drop_column('proposal_key')
        batch_op.drop_column('outcome_after')
        batch_op.drop_column('outcome_before')
        batch_op.drop_column('outcome_metric')
        batch_op.drop_column('job_size')
        batch_op.drop_column('risk_reduction')
        batch_op.drop_column('time_criticality')
        batch_op.drop_column('business_value')
        batch_op.drop_column('reach_basis')
        batch_op.drop_column('scoring')

    op.drop_table('backlog_proposal')
    with op.batch_alter_table('backlog_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backlog_evidence_item_id'))

    op.drop_table('backlog_evidence')
