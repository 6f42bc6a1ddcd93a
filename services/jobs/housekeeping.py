"""One tick of a worker's housekeeping: reap jobs of dead workers, send jobs the queue never got,
fire due schedules, queue a delivery run when notifications are due, (once an hour) delete old
finished jobs (services/jobs/retention.py), and (once a day, when a model has a retention policy) queue
the purge of raw rows past their retention (services/monitoring/retention.py, job monitoring.retention).
Safe to run on every worker at once: each step is a conditional update, guarded by a unique key, or an
idempotent delete."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.db import write_session
from services.core.roles import Actor
from services.core.schema_retention import RetentionPolicy
from services.core.timeutil import utcnow
from services.jobs import queue, retention, runner, schedules
from services.jobs.schema import Job
from services.notify import delivery

log = logging.getLogger(__name__)
SYSTEM = Actor.system("system:worker")
DELIVER = "notify.deliver"
RETENTION = "monitoring.retention"  # services/monitoring/retention.py: once a day per worker process
RETENTION_EVERY = timedelta(days=1)
_retention_queued: dict[str, datetime] = {}


@dataclass(frozen=True)
class TickResult:
    reaped: int
    sent: int
    fired: int
    delivery_job: int | None
    cleaned: int = 0  # old finished jobs deleted
    retention_job: int | None = None  # the daily retention purge, when queued by this tick


def ensure_job(engine: Engine, kind: str, singleton: str) -> int | None:
    """Queue one job of this kind unless one is queued or running already; its id when queued now."""
    with engine.connect() as conn:
        if conn.execute(sa.select(Job.id).where(Job.singleton == singleton)).first():
            return None
    try:
        with write_session(engine) as session:
            return queue.add_job(session, SYSTEM, kind, {}, singleton=singleton).id
    except sa.exc.IntegrityError:  # another worker's tick queued it first
        return None


def tick(engine: Engine, now: datetime | None = None, stale_after: timedelta = runner.STALE_AFTER) -> TickResult:
    now = now or utcnow()
    requeued = runner.reap(engine, stale_after, now)
    fired = schedules.fire_due(engine, now)
    delivery_job = ensure_job(engine, DELIVER, DELIVER) if delivery.due(engine, now, limit=1) else None
    to_send = runner.unsent(engine, now)
    if to_send:
        queue.send(engine, to_send)
    cleaned = retention.due_cleanup(engine, now)
    retention_job = due_retention(engine, now)
    return TickResult(len(requeued), len(to_send), len(fired), delivery_job, cleaned.jobs if cleaned else 0,
                      retention_job)  # fmt: skip


def due_retention(engine: Engine, now: datetime) -> int | None:
    """Queue the daily retention purge (one job at a time: its singleton) when this process has not
    queued it for this database within a day; the job's id when queued now."""
    key = engine.url.render_as_string(hide_password=True)
    last = _retention_queued.get(key)
    if last is not None and now - last < RETENTION_EVERY:
        return None
    with engine.connect() as conn:  # no model has a retention policy: nothing to purge, no job
        if conn.execute(sa.select(RetentionPolicy.model_name).limit(1)).first() is None:
            return None
    _retention_queued[key] = now
    return ensure_job(engine, RETENTION, RETENTION)
