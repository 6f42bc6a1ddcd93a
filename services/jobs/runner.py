"""What a worker calls: claim a job, report progress (and learn of a cancel), finish it, and the
housekeeping of every tick: heartbeats, reaping jobs whose worker died, re-sending unsent jobs.

Every state change is a conditional UPDATE (WHERE status = ... AND worker_id = ...), so two workers
that receive the same message (a re-sent or duplicated one) never both run the job: exactly one
UPDATE matches. These are bookkeeping of the worker, not user actions: they are not audited (the
enqueue and the cancel are); a failed job publishes `job.failed`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import users
from services.core.db import is_sqlite, write_session
from services.core.roles import Actor, Role
from services.core.timeutil import utcnow
from services.jobs.schema import Job, JobBlob
from services.notify import events

STALE_AFTER = timedelta(seconds=30)  # no heartbeat for this long: the worker is taken for dead
RESEND_AFTER = timedelta(seconds=10)  # queued and not sent (or sent this long ago): send again


class JobCancelled(Exception):
    """Raised inside a task by its progress callback once the job's cancel flag is set."""


def claim(engine: Engine, job_id: int, worker_id: str, now: datetime | None = None) -> Job | None:
    """Take a queued job for this worker: the job, or None when another worker has it, it was
    cancelled, it is done, or it is not due yet."""
    now = now or utcnow()
    values = {"status": "running", "worker_id": worker_id, "started_at": now, "heartbeat_at": now,
              "attempts": Job.attempts + 1, "message": "Started", "progress": 0.0}  # fmt: skip
    query = (
        sa.update(Job)
        .where(Job.id == job_id, Job.status == "queued", Job.run_after <= now)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    with write_session(engine) as session:
        if session.execute(query).rowcount != 1:
            return None
        return session.get(Job, job_id)


def actor_of(job: Job, engine: Engine | None = None) -> Actor:
    """The requester, as the task's services see them (they check the permission again; with the engine,
    against the requester's account as it is when the task runs: disabled or demoted since, refused)."""
    actor = Actor(label=job.requested_by, role=Role.parse(job.requested_role), user_id=job.requested_user_id)
    return users.rechecked(engine, actor) if engine is not None else actor


def progress(engine: Engine, job_id: int, worker_id: str, fraction: float, message: str) -> bool:
    """Record progress (and a heartbeat); True when a cancel was asked for."""
    query = (
        sa.update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.worker_id == worker_id)
        .values(progress=min(max(float(fraction), 0.0), 1.0), message=str(message)[:500], heartbeat_at=utcnow())
        .returning(Job.cancel_requested)
    )
    try:
        row = _advisory_write(engine, query)
    except sa.exc.OperationalError as exc:
        if is_sqlite(engine) and "locked" in str(exc):
            return False  # the task's own transaction holds SQLite's write lock: progress is advisory, skip it
        raise
    return row is None or bool(row[0])  # None: the job is no longer ours (reaped): stop as if cancelled


def _advisory_write(engine: Engine, query):
    """Run a progress update, waiting at most a quarter second for SQLite's write lock (the default wait
    is 30 s: a task that reports progress inside its own write transaction would block on itself)."""
    with engine.begin() as conn:
        if not is_sqlite(engine):
            return conn.execute(query).first()
        conn.exec_driver_sql("PRAGMA busy_timeout=250")
        try:
            return conn.execute(query).first()
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout=30000")


def heartbeat(engine: Engine, worker_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(Job).where(Job.status == "running", Job.worker_id == worker_id).values(heartbeat_at=utcnow())
        )


def finish(
    engine: Engine,
    job_id: int,
    worker_id: str,
    status: str,
    *,
    result: Any = None,
    error: str | None = None,
    error_kind: str | None = None,
    error_data: Any = None,
) -> bool:
    """Close a running job of this worker; False when it is no longer ours (reaped meanwhile)."""
    now = utcnow()
    message = {"succeeded": "Done", "cancelled": "Cancelled"}.get(status, (error or "Failed")[:500])
    values = {"status": status, "finished_at": now, "heartbeat_at": now, "singleton": None, "message": message,
              "result": result, "error": error, "error_kind": error_kind, "error_data": error_data}  # fmt: skip
    if status == "succeeded":
        values["progress"] = 1.0
    query = (
        sa.update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.worker_id == worker_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    with write_session(engine) as session:
        if session.execute(query).rowcount != 1:
            return False
        session.execute(sa.delete(JobBlob).where(JobBlob.job_id == job_id))
        if status == "failed":
            job = session.get(Job, job_id)
            _publish_failed(session, job)
    return True


def _publish_failed(session, job: Job) -> None:
    payload = {"job_id": job.id, "kind": job.kind, "label": job.label, "error": (job.error or "")[:500],
               "requested_by": job.requested_by, "attempts": job.attempts}  # fmt: skip
    events.publish(session, "job.failed", payload, f"/schedules?job={job.id}")


def reap(engine: Engine, stale_after: timedelta = STALE_AFTER, now: datetime | None = None) -> list[int]:
    """Jobs whose worker stopped heartbeating: queued again while attempts remain, else failed.
    Returns the ids queued again (to be sent)."""
    now = now or utcnow()
    cutoff = now - stale_after
    requeued: list[int] = []
    with write_session(engine) as session:
        stale = session.exec(select(Job).where(Job.status == "running", Job.heartbeat_at < cutoff)).all()
        for job in stale:
            lost = f"worker {job.worker_id} stopped (no heartbeat since {job.heartbeat_at:%H:%M:%S} UTC)"
            retry = job.attempts < job.max_attempts and not job.cancel_requested
            values: dict[str, Any] = (
                {"status": "queued", "worker_id": None, "sent_at": None, "message": f"Queued again: {lost}"}
                if retry
                else {
                    "status": "failed",
                    "finished_at": now,
                    "singleton": None,
                    "message": lost[:500],
                    "error": lost,
                    "error_kind": "lost",
                }  # fmt: skip
            )
            query = sa.update(Job).where(Job.id == job.id, Job.status == "running", Job.worker_id == job.worker_id)
            if session.execute(query.values(**values).execution_options(synchronize_session=False)).rowcount != 1:
                continue
            if retry:
                requeued.append(job.id)
            else:
                session.refresh(job)
                _publish_failed(session, job)
    return requeued


def unsent(engine: Engine, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Queued, due jobs never handed to the queue, or handed long ago and still not claimed."""
    now = now or utcnow()
    query = (
        select(Job.id)
        .where(Job.status == "queued", Job.run_after <= now)
        .where(sa.or_(Job.sent_at.is_(None), Job.sent_at < now - RESEND_AFTER))
        .order_by(Job.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]
