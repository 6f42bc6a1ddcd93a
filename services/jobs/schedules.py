"""Schedules in the database: per model, how often alert rules and experiment guard rails are
evaluated, when the monitoring refresh and the weekly report run, and an optional scheduled retrain
request. Admins change them (audited); every worker's tick fires the due ones (`fire_due`): each
firing is a conditional UPDATE of next_run_at, so two workers never fire one schedule twice.

When is a cron expression in UTC (croniter), e.g. "*/15 * * * *" or "0 7 * * 1".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.timeutil import to_utc, utcnow
from services.jobs import queue
from services.jobs.kinds import KINDS
from services.jobs.schema import ACTIVE, Job, Schedule

# kind -> (what it does, per model?, suggested cron)
SCHEDULABLE: dict[str, tuple[str, bool, str]] = {
    "alerts.evaluate": ("Evaluate the alert rules", True, "*/15 * * * *"),
    "experiments.guard": ("Check the experiments' guard rails", False, "*/30 * * * *"),
    "monitoring.refresh": ("Refresh the monitoring data", False, "*/10 * * * *"),
    "monitoring.retention": ("Purge raw rows past each model's retention", False, "30 2 * * *"),
    "report.weekly": ("Build the weekly report (and announce it)", False, "0 7 * * 1"),
    "models.request_retrain": ("File a retrain request (needs its approvals)", True, "0 3 * * 0"),
}
MIN_GAP_SECONDS = 60  # a schedule fires at most once a minute
RUNNER = Actor.system("system:schedule")


@dataclass(frozen=True)
class ScheduleView:
    id: int
    kind: str
    what: str
    model_name: str
    cron: str
    enabled: bool
    payload: dict[str, Any]
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_job_id: int | None
    last_outcome: str
    updated_by: str


def next_run(cron: str, after: datetime) -> datetime:
    return to_utc(croniter(cron, to_utc(after)).get_next(datetime))


def check_cron(cron: str) -> str:
    cron = (cron or "").strip()
    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        raise InvalidInput(f"{cron!r} is not a 5-field cron expression (minute hour day month weekday), in UTC.")
    probe = croniter(cron, utcnow())
    first, second = probe.get_next(datetime), probe.get_next(datetime)
    if (second - first).total_seconds() < MIN_GAP_SECONDS:
        raise InvalidInput("A schedule runs at most once a minute.")
    return cron


def set_schedule(
    engine: Engine,
    actor: Actor,
    kind: str,
    cron: str,
    *,
    model_name: str = "",
    enabled: bool = True,
    payload: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> ScheduleView:
    """Create or change the schedule of (kind, model). Admin only; audited."""
    require(actor, Role.admin, "change schedules")
    if kind not in SCHEDULABLE:
        raise InvalidInput(f"{kind!r} cannot be scheduled; expected one of: {', '.join(SCHEDULABLE)}.")
    per_model = SCHEDULABLE[kind][1]
    if kind == "models.request_retrain" and not model_name:
        raise InvalidInput("A scheduled retrain request names its model.")
    model_name = (model_name or "").strip() if per_model else ""
    cron = check_cron(cron)
    with write_session(engine) as session:
        query = select(Schedule).where(Schedule.kind == kind, Schedule.model_name == model_name)
        row = session.exec(query.with_for_update()).first() or Schedule(kind=kind, model_name=model_name, cron=cron)
        before = {"cron": row.cron, "enabled": row.enabled} if row.id else None
        row.cron, row.enabled, row.payload = cron, bool(enabled), dict(payload or row.payload or {})
        row.next_run_at = next_run(cron, now or utcnow()) if enabled else None
        row.updated_by, row.updated_at = actor.label, utcnow()
        session.add(row)
        session.flush()
        change = {"kind": kind, "model": model_name, "cron": cron, "enabled": row.enabled, "before": before}
        audit.record(session, actor, "schedule.set", "job_schedule", row.id, change)
        return _view(row, "")


def delete_schedule(engine: Engine, actor: Actor, schedule_id: int) -> None:
    require(actor, Role.admin, "change schedules")
    with write_session(engine) as session:
        row = session.get(Schedule, schedule_id)
        if row is None:
            raise NotFound(f"There is no schedule {schedule_id}.")
        audit.record(session, actor, "schedule.delete", "job_schedule", schedule_id,
                     {"kind": row.kind, "model": row.model_name, "cron": row.cron})  # fmt: skip
        session.delete(row)


def _view(row: Schedule, outcome: str) -> ScheduleView:
    return ScheduleView(row.id, row.kind, SCHEDULABLE.get(row.kind, (row.kind,))[0], row.model_name, row.cron,
                        row.enabled, dict(row.payload or {}), row.next_run_at, row.last_run_at, row.last_job_id,
                        outcome or row.last_outcome, row.updated_by)  # fmt: skip


def list_schedules(engine: Engine) -> list[ScheduleView]:
    """Every schedule with its last run's outcome (the status of the job it last queued)."""
    with read_session(engine) as session:
        rows = session.exec(select(Schedule).order_by(Schedule.kind, Schedule.model_name)).all()
        job_ids = [r.last_job_id for r in rows if r.last_job_id]
        jobs = {j.id: j for j in session.exec(select(Job).where(Job.id.in_(job_ids)))} if job_ids else {}
    out = []
    for row in rows:
        job = jobs.get(row.last_job_id)
        outcome = "" if job is None else job.status + (f": {job.error[:200]}" if job.error else "")
        out.append(_view(row, outcome))
    return out


def _job_payload(row: Schedule) -> dict[str, Any]:
    payload = dict(row.payload or {})
    if row.model_name:
        payload["model_name"] = row.model_name
    payload["trigger"] = f"schedule {row.id}"
    return payload


def _running_single(session, kind: str) -> int | None:
    """The queued or running job of a kind that runs one at a time (KindSpec.single), if there is one."""
    if not KINDS[kind].single:
        return None
    query = sa.select(Job.id).where(Job.kind == kind, Job.status.in_(ACTIVE)).order_by(Job.id).limit(1)
    return session.execute(query).scalar()


def fire_due(engine: Engine, now: datetime | None = None) -> list[int]:
    """Queue a job for every enabled schedule whose time has come; the job ids. Each schedule moves
    to its next time after `now` (missed times while no worker ran are not made up)."""
    now = now or utcnow()
    with engine.connect() as conn:
        due = conn.execute(
            sa.select(Schedule.id, Schedule.next_run_at).where(Schedule.enabled == True, Schedule.next_run_at <= now)  # noqa: E712
        ).all()
    fired = []
    for schedule_id, planned in due:
        with write_session(engine) as session:
            row = session.get(Schedule, schedule_id)
            upd = (
                sa.update(Schedule)
                .where(Schedule.id == schedule_id, Schedule.next_run_at == planned)
                .values(next_run_at=next_run(row.cron, now), last_run_at=now)
                .execution_options(synchronize_session=False)
            )
            if session.execute(upd).rowcount != 1:
                continue  # another worker fired it
            job_id = _running_single(session, row.kind)
            if job_id is None:  # (a kind run one at a time that is queued or running already is not queued again)
                job_id = queue.add_job(session, RUNNER, row.kind, _job_payload(row), schedule_id=schedule_id,
                                       label=f"{SCHEDULABLE[row.kind][0]} (schedule {schedule_id})",
                                       singleton=row.kind if KINDS[row.kind].single else None).id  # fmt: skip
                fired.append(job_id)
            session.execute(sa.update(Schedule).where(Schedule.id == schedule_id).values(last_job_id=job_id))
    return fired
