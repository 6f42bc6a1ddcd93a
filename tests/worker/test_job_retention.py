"""Old finished job rows are deleted by the worker's tick (SQLite and Postgres): finished jobs older than
the retention go with their blobs, running, queued and recent ones stay, a schedule keeps its last
job's outcome, procrastinate's own finished rows that old go too, and a tick cleans at most once an hour."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.core import audit
from services.core.timeutil import utcnow
from services.jobs import housekeeping, queue, retention, schedules, transport
from worker.main import Worker


@pytest.fixture
def jengine(engine):
    if engine.dialect.name == "postgresql":
        transport.ensure_procrastinate_schema(engine)
    retention._last_run.clear()
    return engine


def _age(engine, job_id: int, days: float) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE job SET finished_at = :t WHERE id = :id"),
                     {"t": utcnow() - timedelta(days=days), "id": job_id})  # fmt: skip


def test_finished_jobs_older_than_the_retention_are_deleted_and_the_rest_stay(jengine, admin, monkeypatch):
    monkeypatch.setenv("LOOPDECK_JOB_RETENTION_DAYS", "7")
    old_ok = queue.enqueue(jengine, "debug.noop", {"n": 1}, admin, blob=b"bytes")
    old_failed = queue.enqueue(jengine, "debug.sleep", {"steps": 1, "step_seconds": 0, "fail": "boom"}, admin)
    recent = queue.enqueue(jengine, "debug.noop", {"n": 2}, admin)
    schedules.set_schedule(jengine, admin, "experiments.guard", "*/15 * * * *")
    [scheduled] = schedules.fire_due(jengine, utcnow() + timedelta(minutes=16))
    Worker(jengine, "inproc").run_once()
    assert {queue.get(jengine, j).status for j in (old_ok, recent, scheduled)} == {"succeeded"}
    waiting = queue.enqueue(jengine, "debug.noop", {"n": 3}, admin, notify=False)  # queued, never run
    for job_id in (old_ok, old_failed, scheduled):
        _age(jengine, job_id, 8)
    _age(jengine, recent, 6)
    with jengine.begin() as conn:  # a blob left behind by a job that ended without its worker's cleanup
        conn.execute(sa.text("INSERT INTO job_blob (job_id, data) VALUES (:id, :d)"), {"id": old_ok, "d": b"x"})

    result = retention.cleanup(jengine)
    assert result.jobs == 3
    left = {j.id for j in queue.list_jobs(jengine, limit=1000)}
    assert {recent, waiting} <= left and not {old_ok, old_failed, scheduled} & left
    with jengine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM job_blob")).scalar() == 0
    [row] = schedules.list_schedules(jengine)
    assert row.last_job_id == scheduled and row.last_outcome == "succeeded"  # kept though its job is gone
    [event] = audit.list_events(jengine, audit.AuditFilter(action="job.cleanup")).to_dict("records")
    assert event["actor"] == "system:housekeeping" and '"deleted"' in str(event["payload"])
    assert retention.cleanup(jengine).jobs == 0  # nothing more: no second audit event either
    assert len(audit.list_events(jengine, audit.AuditFilter(action="job.cleanup"))) == 1


def test_the_tick_cleans_at_most_once_an_hour(jengine, admin):
    job_id = queue.enqueue(jengine, "debug.noop", {}, admin)
    Worker(jengine, "inproc").run_once()  # its tick cleans (nothing old yet) and marks the hour
    _age(jengine, job_id, 40)
    assert housekeeping.tick(jengine, utcnow() + timedelta(minutes=30)).cleaned == 0  # not within the hour
    assert queue.get(jengine, job_id) is not None
    assert housekeeping.tick(jengine, utcnow() + timedelta(minutes=61)).cleaned == 1
    assert queue.get(jengine, job_id) is None


def test_procrastinates_own_finished_rows_that_old_are_deleted(jengine):
    if jengine.dialect.name != "postgresql":
        pytest.skip("procrastinate is the queue on Postgres only (huey on SQLite keeps no finished messages)")
    transport.for_engine(jengine).send([101, 102])
    with jengine.begin() as conn:
        conn.execute(sa.text("UPDATE procrastinate_jobs SET status = 'failed' WHERE (args->>'job_id')::int = 101"))
        conn.execute(sa.text("UPDATE procrastinate_events SET at = now() - interval '40 days' WHERE job_id IN "
                             "(SELECT id FROM procrastinate_jobs WHERE (args->>'job_id')::int = 101)"))  # fmt: skip
    assert retention.cleanup(jengine).queue_rows == 1
    with jengine.connect() as conn:
        left = conn.execute(sa.text("SELECT (args->>'job_id')::int, status::text FROM procrastinate_jobs")).all()
    assert left == [(102, "todo")]
