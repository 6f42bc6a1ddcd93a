"""The audit chain: intact, an edited row, a deleted row (middle and end), a reordered row."""

import sqlalchemy as sa

from services.core import audit
from services.core.db import write_session
from services.core.roles import Actor, Role
from tests.services.core.audit_attack import as_attacker

ACTOR = Actor(label="ana@test.io", role=Role.analyst)


def _write_events(engine, n: int = 5) -> None:
    for i in range(n):
        with write_session(engine) as session:
            audit.record(session, ACTOR, "thing.change", "thing", i, {"step": i, "note": "é"})


def test_empty_chain_is_intact(engine):
    report = audit.verify(engine)
    assert report.intact and report.checked == 0


def test_intact_chain(engine):
    _write_events(engine)
    report = audit.verify(engine)
    assert report.intact, report.message()
    assert report.checked == 5


def test_record_many_continues_the_chain(engine):
    _write_events(engine, 2)
    with write_session(engine) as session:
        audit.record_many(session, ACTOR, "bulk.change", "thing", [(10, {"a": 1}), (11, {"a": 2})])
    _write_events(engine, 1)
    report = audit.verify(engine)
    assert report.intact and report.checked == 5


def test_rolled_back_transaction_leaves_no_event(engine):
    try:
        with write_session(engine) as session:
            audit.record(session, ACTOR, "thing.change", "thing", 1, {})
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert audit.count_events(engine) == 0
    assert audit.verify(engine).intact


def test_edited_row_is_found(engine):
    _write_events(engine)
    with as_attacker(engine) as conn:
        conn.execute(sa.text("UPDATE audit_event SET payload = :p WHERE id = 3"), {"p": '{"step":99}'})
    report = audit.verify(engine)
    assert not report.intact
    assert report.first_bad_id == 3
    assert "edited" in report.problem


def test_edited_actor_is_found(engine):
    _write_events(engine)
    with as_attacker(engine) as conn:
        conn.execute(sa.text("UPDATE audit_event SET actor = 'mallory' WHERE id = 2"))
    assert audit.verify(engine).first_bad_id == 2


def test_deleted_row_is_found(engine):
    _write_events(engine)
    with as_attacker(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE id = 2"))
    report = audit.verify(engine)
    assert not report.intact and report.first_bad_id == 3
    assert "missing" in report.problem


def test_deleted_last_row_is_found(engine):
    _write_events(engine)
    with as_attacker(engine) as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE id = 5"))
    report = audit.verify(engine)
    assert not report.intact and report.first_bad_id == 5


def test_reordered_rows_are_found(engine):
    """Swap the contents of events 2 and 4 (ids stay in place): the chain breaks at 2."""
    _write_events(engine)
    cols = "ts, actor, action, subject_type, subject_id, payload, prev_hash, hash"
    with as_attacker(engine) as conn:
        two = conn.execute(sa.text(f"SELECT {cols} FROM audit_event WHERE id = 2")).mappings().one()
        four = conn.execute(sa.text(f"SELECT {cols} FROM audit_event WHERE id = 4")).mappings().one()
        sets = ", ".join(f"{c} = :{c}" for c in two)
        conn.execute(sa.text(f"UPDATE audit_event SET {sets} WHERE id = 2"), dict(four))
        conn.execute(sa.text(f"UPDATE audit_event SET {sets} WHERE id = 4"), dict(two))
    report = audit.verify(engine)
    assert not report.intact and report.first_bad_id == 2


def test_filters_and_export(engine):
    _write_events(engine, 3)
    with write_session(engine) as session:
        audit.record(session, "bob@test.io", "user.add", "user", 7, {"email": "x@y.z"})
    assert audit.count_events(engine, audit.AuditFilter(actor="bob@test.io")) == 1
    assert audit.count_events(engine, audit.AuditFilter(action="thing.change")) == 3
    assert audit.count_events(engine, audit.AuditFilter(subject_type="thing", subject_id="1")) == 1
    frame = audit.list_events(engine, audit.AuditFilter(action="thing.change"))
    assert list(frame["id"]) == [3, 2, 1]
    facets = audit.facets(engine)
    assert facets.actors == ["ana@test.io", "bob@test.io"]
    csv = audit.export_csv(engine, audit.AuditFilter(actor="bob@test.io")).decode()
    assert csv.splitlines()[0].startswith("id,ts,actor,action")
    assert "user.add" in csv and "thing.change" not in csv


def test_concurrent_writers_keep_one_intact_chain(engine):
    """Four threads append at once: the head lock serialises them; no event lost, no fork."""
    from concurrent.futures import ThreadPoolExecutor

    def writer(worker: int) -> None:
        for i in range(15):
            with write_session(engine) as session:
                audit.record(session, ACTOR, "race", "thing", f"{worker}-{i}", {"w": worker})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(writer, range(4)))
    report = audit.verify(engine)
    assert report.intact, report.message()
    assert report.checked == 60


def test_time_filter_keeps_events_in_the_half_open_window(engine, monkeypatch):
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    for hour in range(4):  # events at 09:00, 10:00, 11:00, 12:00
        monkeypatch.setattr(audit, "utcnow", lambda h=hour: start + timedelta(hours=h))
        with write_session(engine) as session:
            audit.record(session, ACTOR, "thing.change", "thing", hour)
    window = audit.AuditFilter(since=start + timedelta(hours=1), until=start + timedelta(hours=3))
    assert list(audit.list_events(engine, window)["subject_id"]) == ["2", "1"]  # 10:00 and 11:00, newest first
    assert audit.count_events(engine, audit.AuditFilter(since=start + timedelta(hours=3))) == 1
    assert audit.count_events(engine, audit.AuditFilter(until=start)) == 0
    assert audit.verify(engine).intact
