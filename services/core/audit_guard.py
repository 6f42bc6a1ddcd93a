"""Triggers that keep the audit tables append-only (migration 0012_audit_guard; create_all too).

audit_event: every UPDATE and DELETE is refused. audit_head: DELETE is refused, and an UPDATE must move
the head forward (the append path is the only writer, and it only ever adds events). TRUNCATE is not a
row operation and fires neither trigger: the README's database role takes that privilege away, and the
checkpoint file catches a wipe.

A trigger stops mistakes and naive tampering, not the tables' owner (who can drop it) nor, on SQLite,
anyone who can write the file; the keyed chain and the checkpoints are what detect those.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core.schema_accounts import AuditEvent, AuditHead

_PG_REFUSE = """
CREATE OR REPLACE FUNCTION loopdeck_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
        MESSAGE = 'the audit log is append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME || ' refused';
END $$"""

_PG_FORWARD = """
CREATE OR REPLACE FUNCTION loopdeck_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.last_event_id <= OLD.last_event_id THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = 'the audit chain head only moves forward: ' || TG_OP || ' on audit_head refused';
    END IF;
    RETURN NEW;
END $$"""


def _sqlite_refuse(name: str, op: str, table: str, when: str = "") -> str:
    what = "the audit log is append-only" if table == "audit_event" else "the audit chain head only moves forward"
    return (
        f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table} {when}"
        f"BEGIN SELECT RAISE(ABORT, '{what}: {op} on {table} refused'); END"
    )


# table -> dialect -> statements that install its guard (migration 0013 holds a frozen copy)
INSTALL: dict[str, dict[str, tuple[str, ...]]] = {
    "audit_event": {
        "postgresql": (
            _PG_REFUSE,
            "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION loopdeck_audit_append_only()",
        ),
        "sqlite": (
            _sqlite_refuse("audit_event_no_update", "UPDATE", "audit_event"),
            _sqlite_refuse("audit_event_no_delete", "DELETE", "audit_event"),
        ),
    },
    "audit_head": {
        "postgresql": (
            _PG_FORWARD,
            "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head",
            "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head "
            "FOR EACH ROW EXECUTE FUNCTION loopdeck_audit_head_forward()",
        ),
        "sqlite": (
            _sqlite_refuse(
                "audit_head_forward_only",
                "UPDATE",
                "audit_head",
                "WHEN NEW.id <> OLD.id OR NEW.last_event_id <= OLD.last_event_id ",
            ),
            _sqlite_refuse("audit_head_no_delete", "DELETE", "audit_head"),
        ),
    },
}

SQLITE_TRIGGERS = ("audit_event_no_update", "audit_event_no_delete", "audit_head_forward_only", "audit_head_no_delete")

REMOVE: dict[str, tuple[str, ...]] = {
    "postgresql": (
        "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
        "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head",
        "DROP FUNCTION IF EXISTS loopdeck_audit_append_only()",
        "DROP FUNCTION IF EXISTS loopdeck_audit_head_forward()",
    ),
    "sqlite": tuple(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
}


def install(conn: Connection) -> None:
    """Add the guard to existing tables (idempotent)."""
    for statements in INSTALL.values():
        for statement in statements.get(conn.dialect.name, ()):
            conn.exec_driver_sql(statement)


def remove(conn: Connection) -> None:
    """Take the guard away, as the tables' owner can (tests use it to play the attacker)."""
    for statement in REMOVE.get(conn.dialect.name, ()):
        conn.exec_driver_sql(statement)


# Tables made by metadata.create_all (tests, the demo) get the same guard as migrated ones.
for _table in (AuditEvent.__table__, AuditHead.__table__):
    for _dialect, _statements in INSTALL[_table.name].items():
        for _statement in _statements:
            sa.event.listen(_table, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))
