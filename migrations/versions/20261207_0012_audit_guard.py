"""audit guard: the audit tables refuse UPDATE and DELETE in the database

audit_event: BEFORE UPDATE OR DELETE triggers refuse every change (Postgres: a plpgsql function that
raises insufficient_privilege; SQLite: RAISE(ABORT)). audit_head: DELETE is refused and an UPDATE must
move the head forward (the append path is its only writer). services.core.audit_guard attaches the
same triggers to tables made by metadata.create_all. A later SQLite batch migration of these tables
recreates them, so it must create the triggers again. No table changes: the keyed chain and the
checkpoints live outside the database (services.core.audit_anchor).

Revision ID: 0012_audit_guard
Revises: 0010_derived_summary
Create Date: 2026-12-11 13:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0012_audit_guard'
down_revision: str | None = '0011_api_tokens'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES = (
    """
CREATE OR REPLACE FUNCTION loopdeck_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = 'the audit log is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused';
END $$""",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION loopdeck_audit_append_only()",
    """
CREATE OR REPLACE FUNCTION loopdeck_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.last_event_id <= OLD.last_event_id THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'the audit chain head only moves forward: ' || TG_OP || ' on audit_head refused';
    END IF;
    RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head",
    "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION loopdeck_audit_head_forward()",
)

SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE on audit_event refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE on audit_event refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_head_forward_only BEFORE UPDATE ON audit_head "
    "WHEN NEW.id <> OLD.id OR NEW.last_event_id <= OLD.last_event_id "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: UPDATE on audit_head refused'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_head_no_delete BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward: DELETE on audit_head refused'); END",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES if dialect == 'postgresql' else SQLITE if dialect == 'sqlite' else ():
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for name in ('audit_event_no_update', 'audit_event_no_delete', 'audit_head_forward_only', 'audit_head_no_delete'):
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    elif dialect == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event')
        op.execute('DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head')
        op.execute('DROP FUNCTION IF EXISTS loopdeck_audit_append_only()')
        op.execute('DROP FUNCTION IF EXISTS loopdeck_audit_head_forward()')
