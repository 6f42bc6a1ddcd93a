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
from tests.services.core.audit_attack import as_attacker

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


# --- the triggers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'mallory' WHERE id = 2",
        "DELETE FROM audit_event WHERE id = 3",
        "DELETE FROM audit_event",
        "UPDATE audit_head SET last_event_id = 4",
        "UPDATE audit_head SET last_event_id = 6",
        "DELETE FROM audit_head",
    ],
)
def test_the_database_refuses_changes_to_the_audit_tables(engine, statement):
    _write_events(engine)
    with pytest.raises(sa.exc.DBAPIError, match="append-only|only moves forward"), engine.begin() as conn:
        conn.exec_driver_sql(statement)
    report = audit.verify(engine)
    assert report.intact and report.checked == EVENTS


def test_the_append_path_works_under_the_triggers(engine):
    _write_events(engine, 2)
    with write_session(engine) as session:
        audit.record_many(session, ACTOR, "bulk.change", "thing", [(10, {"a": 1}), (11, {"a": 2})])
        audit.record(session, ACTOR, "thing.change", "thing", 12, {})
    assert audit.verify(engine).checked == 5


# --- keys, checkpoints and the report ------------------------------------------------------------


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_the_report_says_what_it_checked(engine):
    _write_events(engine, 3)
    report = audit.verify(engine)
    assert (report.intact, report.checked, report.signed, report.unsigned) == (True, 3, 3, 0)
    assert report.latest_checkpoint == 3 and report.checkpoints == 4  # the start line and one per write
    assert report.key_source.startswith("LOOPDECK_AUDIT_KEY_FILE=")
    message = report.message()
    assert message.startswith("Audit chain intact: 3 events verified.")
    assert report.checkpoint_file in message and "the latest vouches for events 1-3 and matches" in message


def test_a_rolled_back_transaction_writes_no_checkpoint(engine):
    _write_events(engine, 1)
    path = audit.audit_anchor.checkpoint_path(engine)
    before = _lines(path)
    with pytest.raises(RuntimeError), write_session(engine) as session:
        audit.record(session, ACTOR, "thing.change", "thing", 1, {})
        raise RuntimeError("boom")
    assert _lines(path) == before and audit.verify(engine).intact


def test_the_key_file_is_made_beside_the_sqlite_file_and_private(tmp_path, monkeypatch):
    from sqlmodel import SQLModel

    from services.core.db import make_engine

    monkeypatch.delenv("LOOPDECK_AUDIT_KEY_FILE")
    monkeypatch.delenv("LOOPDECK_AUDIT_CHECKPOINT_FILE")
    engine = make_engine(f"sqlite:///{tmp_path / 'team.db'}")
    SQLModel.metadata.create_all(engine)
    _write_events(engine, 2)
    key, log = tmp_path / "audit.key", tmp_path / "audit-checkpoints.log"
    assert key.stat().st_mode & 0o777 == 0o600 and log.stat().st_mode & 0o777 == 0o600
    assert len(_lines(log)) == 3
    report = audit.verify(engine)
    assert report.intact and report.key_source == str(key) and report.checkpoint_file == str(log)
    key.chmod(0o644)
    assert any("readable by others" in note for note in audit.verify(engine).notes)
    engine.dispose()


def test_a_key_in_the_environment_and_a_different_key(engine, monkeypatch):
    monkeypatch.setenv("LOOPDECK_AUDIT_KEY", "k" * 40)
    _write_events(engine, 2)
    assert audit.verify(engine).key_source == "the environment variable LOOPDECK_AUDIT_KEY"
    monkeypatch.setenv("LOOPDECK_AUDIT_KEY", "another key of forty characters, exactly")
    report = audit.verify(engine)
    assert not report.intact and "signed with another key" in report.problem
    monkeypatch.setenv("LOOPDECK_AUDIT_KEY", "short")
    assert "shorter than 32" in audit.verify(engine).problem
    with pytest.raises(audit.audit_anchor.AuditKeyError), write_session(engine) as session:
        audit.record(session, ACTOR, "thing.change", "thing", 1, {})


def test_no_key_no_verification(engine, tmp_path, monkeypatch):
    _write_events(engine, 2)
    monkeypatch.setenv("LOOPDECK_AUDIT_KEY_FILE", str(tmp_path / "absent.key"))
    report = audit.verify(engine)
    assert not report.intact and "no key was found" in report.problem
    assert report.message().startswith("Audit chain NOT VERIFIED")


def test_an_edited_checkpoint_line_is_found(engine):
    _write_events(engine, 3)
    path = audit.audit_anchor.checkpoint_path(engine)
    lines = _lines(path)
    lines[-1] = lines[-1].replace('"events":3', '"events":2')
    path.write_text("\n".join(lines) + "\n")
    report = audit.verify(engine)
    assert not report.intact and "signature does not match" in report.problem


def test_checkpoints_lost_after_a_restore_from_backup_are_reported(engine):
    """Rolling the database back (a restore, or an attacker with a backup) is a cut from the end."""
    _write_events(engine, 3)
    with as_attacker(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE id = 3"))
        _set_head(conn, 2, _rows(conn, 2)[0]["hash"])
    _write_events(engine, 2)  # new events 3 and 4: event 3 is not the one that was signed
    report = audit.verify(engine)
    assert not report.intact and report.first_bad_id == 3
    assert "differs from the one signed on line" in report.problem
    assert any("disagree about event 3" in note for note in report.notes)


def test_one_checkpoint_file_serves_several_databases(tmp_path):
    from sqlmodel import SQLModel

    from services.core.db import make_engine

    engines = [make_engine(f"sqlite:///{tmp_path / name}") for name in ("a.db", "b.db")]
    for engine in engines:
        SQLModel.metadata.create_all(engine)
        _write_events(engine, 2)
    with as_attacker(engines[0]) as conn:
        wipe_every_event(conn)
    assert not audit.verify(engines[0]).intact
    assert audit.verify(engines[1]).intact
    for engine in engines:
        engine.dispose()


# --- chains written before the key ---------------------------------------------------------------


def _write_unkeyed_events(engine, n: int) -> None:
    """Events as the version before the key wrote them (plain SHA-256), with no checkpoint."""
    prev, rows = audit.GENESIS_HASH, []
    for i in range(1, n + 1):
        row = {"id": i, "ts": audit.utcnow(), "actor": "old@test.io", "action": "old.change", "subject_type": "thing"}
        row |= {"subject_id": str(i), "payload": "{}", "prev_hash": prev}
        row["hash"] = prev = audit.event_hash(*(row[c] for c in COLUMNS.split(", ")[:-2]), prev)
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(sa.insert(audit.AuditEvent.__table__), rows)
        conn.execute(sa.insert(audit.AuditHead.__table__).values(id=1, last_event_id=n, last_hash=prev))


def test_an_old_chain_is_pinned_by_the_first_checkpoint(engine):
    _write_unkeyed_events(engine, 3)
    report = audit.verify(engine)
    assert report.intact and report.unsigned == 3 and report.latest_checkpoint is None
    assert any("not anchored" in note for note in report.notes)
    _write_events(engine, 2)
    report = audit.verify(engine)
    assert (report.intact, report.unsigned, report.signed, report.latest_checkpoint) == (True, 3, 2, 5)
    with as_attacker(engine) as conn:  # the old part can be rewritten the old way, but not unnoticed
        edit_a_middle_event_and_recompute(conn)
    report = audit.verify(engine)
    assert not report.intact and report.first_bad_id == 3
    assert "signed on line" in report.problem


# --- a database role without UPDATE and DELETE on the audit tables (the README's recipe) ---------


def test_the_readme_role_can_append_but_not_change(engine, tmp_path):
    import os

    if engine.dialect.name != "postgresql":
        pytest.skip("database roles are a Postgres feature")
    role = f"loopdeck_app_{os.getpid()}"
    recipe = [
        f"CREATE ROLE {role} NOLOGIN",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_event, audit_head FROM {role}",
        f"GRANT UPDATE (last_event_id, last_hash) ON audit_head TO {role}",
    ]
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        for statement in recipe:
            conn.exec_driver_sql(statement)
        audit.audit_guard.remove(conn)  # the privileges alone must hold
    app = sa.create_engine(engine.url, connect_args={"options": f"-c role={role}"})
    try:
        _write_events(app, 3)
        for statement in [
            "UPDATE audit_event SET actor = 'mallory' WHERE id = 2",
            "DELETE FROM audit_event",
            "TRUNCATE audit_event",
            "DELETE FROM audit_head",
            "ALTER TABLE audit_event DISABLE TRIGGER USER",
        ]:
            with pytest.raises(sa.exc.DBAPIError, match="permission denied|must be owner"), app.begin() as conn:
                conn.exec_driver_sql(statement)
        assert audit.verify(app).intact and audit.verify(app).checked == 3
    finally:
        app.dispose()
        with engine.begin() as conn:
            audit.audit_guard.install(conn)
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
