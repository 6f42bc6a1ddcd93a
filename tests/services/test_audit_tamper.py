"""Someone with write access to the database (but not to the audit key or the checkpoint file) tampers
with the audit log in plain SQL; `audit verify` must find every one of the 12 tampers, on SQLite and
Postgres. Tampers 1-9 rewrite the hashes as the old, unkeyed chain computed them and fix the chain
head, so the old verify passed them; 10-12 were already found by the old verify."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.core import audit
from services.core.db import write_session
from services.core.roles import Actor, Role
from tests.services.audit_attack import as_attacker

ACTOR = Actor(label="ana@test.io", role=Role.analyst)
COLUMNS = "id, ts, actor, action, subject_type, subject_id, payload, prev_hash, hash"
EVENTS = 6


def _write_events(engine, n: int = EVENTS) -> None:
    for i in range(n):
        with write_session(engine) as session:
            audit.record(session, ACTOR, "thing.change", "thing", i, {"step": i})


# --- the attacker's tools: plain SQL and the old, public hash function ---------------------------


def _rows(conn: Connection, since: int = 1) -> list[dict]:
    query = sa.text(f"SELECT {COLUMNS} FROM audit_event WHERE id >= :i ORDER BY id")
    return [dict(r) for r in conn.execute(query, {"i": since}).mappings()]


def _set(conn: Connection, event_id: int, **values) -> None:
    sets = ", ".join(f"{c} = :{c}" for c in values)
    conn.execute(sa.text(f"UPDATE audit_event SET {sets} WHERE id = :where"), {**values, "where": event_id})


def _set_head(conn: Connection, last_id: int, last_hash: str) -> None:
    conn.execute(sa.text("UPDATE audit_head SET last_event_id = :i, last_hash = :h"), {"i": last_id, "h": last_hash})


def _plain_hash(row: dict, prev: str) -> str:
    fields = ("id", "ts", "actor", "action", "subject_type", "subject_id", "payload")
    return audit.event_hash(*(row[f] for f in fields), prev)


def _rechain(conn: Connection, since: int) -> None:
    """Recompute every hash from `since` on as the unkeyed chain did, and point the head at the end."""
    before = conn.execute(sa.text("SELECT hash FROM audit_event WHERE id = :i"), {"i": since - 1}).scalar()
    prev = before or audit.GENESIS_HASH
    rows = _rows(conn)
    for row in rows:
        if row["id"] >= since:
            row["hash"] = _plain_hash(row, prev)
            _set(conn, row["id"], prev_hash=prev, hash=row["hash"])
        prev = row["hash"]
    _set_head(conn, rows[-1]["id"] if rows else 0, prev)


# --- the 12 tampers ------------------------------------------------------------------------------


def cut_the_end_and_fix_the_head(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_event WHERE id > 4"))
    _set_head(conn, 4, _rows(conn, 4)[0]["hash"])


def add_a_forged_event(conn: Connection) -> None:
    last = _rows(conn, EVENTS)[0]
    forged = {**last, "id": EVENTS + 1, "actor": "mallory@test.io", "payload": '{"step":99}', "prev_hash": last["hash"]}
    forged["hash"] = _plain_hash(forged, last["hash"])
    names = COLUMNS.split(", ")
    conn.execute(sa.text(f"INSERT INTO audit_event ({COLUMNS}) VALUES ({', '.join(':' + c for c in names)})"), forged)
    _set_head(conn, forged["id"], forged["hash"])


def edit_a_middle_event_and_recompute(conn: Connection) -> None:
    _set(conn, 3, payload='{"step":99}')
    _rechain(conn, 3)


def delete_and_renumber(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_event WHERE id = 3"))
    for event_id in range(4, EVENTS + 1):  # one row at a time, upwards: no primary key clash
        conn.execute(
            sa.text("UPDATE audit_event SET id = :new WHERE id = :old"), {"new": event_id - 1, "old": event_id}
        )
    _rechain(conn, 3)


def wipe_every_event(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_event"))
    _set_head(conn, 0, audit.GENESIS_HASH)


def edit_the_last_event_and_recompute(conn: Connection) -> None:
    _set(conn, EVENTS, payload='{"step":99}')
    _rechain(conn, EVENTS)


def reorder_and_recompute(conn: Connection) -> None:
    two, four = _rows(conn, 2)[0], _rows(conn, 4)[0]
    movable = ("ts", "actor", "action", "subject_type", "subject_id", "payload")
    _set(conn, 2, **{c: four[c] for c in movable})
    _set(conn, 4, **{c: two[c] for c in movable})
    _rechain(conn, 2)


def change_the_actor_and_recompute(conn: Connection) -> None:
    _set(conn, 2, actor="mallory@test.io")
    _rechain(conn, 2)


def change_the_time_and_recompute(conn: Connection) -> None:
    ts = _rows(conn, 3)[0]["ts"]  # SQLite hands back its stored text, Postgres a datetime
    earlier = datetime.fromisoformat(ts) - timedelta(days=1) if isinstance(ts, str) else ts - timedelta(days=1)
    _set(conn, 3, ts=earlier.isoformat(" ", "microseconds") if isinstance(ts, str) else earlier)
    _rechain(conn, 3)


def delete_one_event(conn: Connection) -> None:
    conn.execute(sa.text("DELETE FROM audit_event WHERE id = 3"))


def move_the_head_back(conn: Connection) -> None:
    _set_head(conn, 4, _rows(conn, 4)[0]["hash"])


def edit_a_payload(conn: Connection) -> None:
    _set(conn, 3, payload='{"step":99}')


TAMPERS: list[Callable[[Connection], None]] = [
    cut_the_end_and_fix_the_head,
    add_a_forged_event,
    edit_a_middle_event_and_recompute,
    delete_and_renumber,
    wipe_every_event,
    edit_the_last_event_and_recompute,
    reorder_and_recompute,
    change_the_actor_and_recompute,
    change_the_time_and_recompute,
    delete_one_event,
    move_the_head_back,
    edit_a_payload,
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.__name__ for t in TAMPERS])
def test_every_tamper_fails_verify(engine, tamper):
    _write_events(engine)
    assert audit.verify(engine).intact
    with as_attacker(engine) as conn:
        tamper(conn)
    report = audit.verify(engine)
    assert not report.intact, report.message()
    assert report.message().startswith("Audit chain BROKEN at event ")
    assert report.first_bad_id is not None and 1 <= report.first_bad_id <= EVENTS + 1
