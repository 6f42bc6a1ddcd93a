"""Old job rows are deleted: finished jobs (succeeded, failed, cancelled) whose end is more than
LOOPDECK_JOB_RETENTION_DAYS (default 30) ago, with their blobs; on Postgres also procrastinate's own rows
of finished messages that old (it deletes successful ones itself; failed and cancelled ones stay). huey on
SQLite keeps nothing to clean: a message is deleted when a worker takes it and our tasks store no result.

Every worker's tick runs it at most once per CLEANUP_EVERY (services/jobs/housekeeping.py); two workers
doing it at once delete the same rows, which is harmless. A schedule whose last job is deleted keeps
that job's outcome (job_schedule.last_outcome). System bookkeeping, audited when it deleted anything.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core import audit, config
from services.core.db import is_sqlite, write_session
from services.core.timeutil import utcnow
from services.jobs.schema import DONE, Job, JobBlob, Schedule

CLEANUP_EVERY = timedelta(hours=1)
BATCH = 5000  # rows per delete statement (a long-idle database may hold many)
ACTOR = "system:housekeeping"
_last_run: dict[str, datetime] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class CleanupResult:
    jobs: int
    queue_rows: int
    cutoff: datetime


def cleanup(engine: Engine, now: datetime | None = None, days: int | None = None) -> CleanupResult:
    """Delete finished jobs that ended more than `days` (default: the configured retention) ago."""
    now = now or utcnow()
    cutoff = now - timedelta(days=days if days is not None else config.job_retention_days())
    deleted = 0
    while True:
        with write_session(engine) as session:
            ids = [r[0] for r in session.execute(sa.select(Job.id).where(Job.status.in_(DONE),
                   Job.finished_at < cutoff).order_by(Job.id).limit(BATCH))]  # fmt: skip
            if not ids:
                break
            _keep_schedule_outcomes(session, ids)
            session.execute(sa.delete(JobBlob).where(JobBlob.job_id.in_(ids)))
            session.execute(sa.delete(Job).where(Job.id.in_(ids)))
            change = {"deleted": len(ids), "first": ids[0], "last": ids[-1], "finished_before": cutoff.isoformat()}
            audit.record(session, ACTOR, "job.cleanup", "job", f"{ids[0]}..{ids[-1]}", change)
            deleted += len(ids)
    queue_rows = 0 if is_sqlite(engine) else _cleanup_procrastinate(engine, cutoff)
    return CleanupResult(deleted, queue_rows, cutoff)


def _keep_schedule_outcomes(session, ids: list[int]) -> None:
    rows = session.execute(sa.select(Schedule.id, Job.status, Job.error).join(Job, Job.id == Schedule.last_job_id)
                           .where(Job.id.in_(ids))).all()  # fmt: skip
    for schedule_id, status, error in rows:
        outcome = (status + (f": {error[:200]}" if error else ""))[:500]
        session.execute(sa.update(Schedule).where(Schedule.id == schedule_id).values(last_outcome=outcome))


def _cleanup_procrastinate(engine: Engine, cutoff: datetime) -> int:
    """procrastinate's finished messages with no event since the cutoff (their events go with them)."""
    with engine.begin() as conn:
        if conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is None:
            return 0
        return conn.execute(
            sa.text(
                "DELETE FROM procrastinate_jobs j WHERE j.status::text IN ('succeeded', 'failed', 'cancelled', "
                "'aborted') AND NOT EXISTS (SELECT 1 FROM procrastinate_events e WHERE e.job_id = j.id "
                "AND e.at >= :cutoff)"
            ),
            {"cutoff": cutoff},
        ).rowcount


def due_cleanup(engine: Engine, now: datetime) -> CleanupResult | None:
    """Run `cleanup` when this process has not run it for this database within CLEANUP_EVERY."""
    key = engine.url.render_as_string(hide_password=True)
    with _lock:
        last = _last_run.get(key)
        if last is not None and now - last < CLEANUP_EVERY:
            return None
        _last_run[key] = now
    return cleanup(engine, now)
