"""The job interface the rest of Loopdeck calls: enqueue, cancel, get, list_jobs.

`enqueue` writes a queued Job (and its audit event) in one transaction, then asks the transport (the
queue library) to deliver "run job N" to a worker. If that message is lost (the process dies between
the commit and the send, the queue is down), the job is still queued in the database and every
worker's tick sends it again (see runner.resend_unsent), so nothing the database holds is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role, allowed, require
from services.core.timeutil import utcnow
from services.jobs import transport
from services.jobs.kinds import KINDS
from services.jobs.schema import ACTIVE, DONE, STATUSES, Job, JobBlob

log = logging.getLogger(__name__)
MAX_BLOB_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class JobView:
    """What a screen or the CLI shows of a job."""

    id: int
    kind: str
    label: str
    status: str
    progress: float
    message: str
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    worker_id: str | None
    cancel_requested: bool
    result: Any
    error: str | None
    error_kind: str | None
    error_data: Any
    payload: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.status in DONE

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(**{f: getattr(job, f) for f in cls.__dataclass_fields__})


def add_job(
    session: Session,
    actor: Actor,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    label: str = "",
    blob: bytes | None = None,
    singleton: str | None = None,
    schedule_id: int | None = None,
) -> Job:
    """Queue a job inside the caller's transaction (audited there); the worker's tick sends it."""
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidInput(f"Unknown job kind {kind!r}; expected one of: {', '.join(KINDS)}.")
    require(actor, spec.role, f"start a job '{kind}'")
    if blob is not None and len(blob) > MAX_BLOB_BYTES:
        raise InvalidInput(f"The file is {len(blob):,} bytes; a job takes at most {MAX_BLOB_BYTES:,}.")
    job = Job(
        kind=kind,
        label=(label or spec.label)[:300],
        payload=payload or {},
        requested_by=actor.label,
        requested_role=actor.role.name,
        requested_user_id=actor.user_id,
        max_attempts=spec.max_attempts,
        singleton=singleton,
        schedule_id=schedule_id,
    )
    session.add(job)
    session.flush()
    if blob is not None:
        session.add(JobBlob(job_id=job.id, data=blob))
    audit.record(session, actor, "job.enqueue", "job", job.id, {"kind": kind, "label": job.label})
    return job


def enqueue(
    engine: Engine,
    kind: str,
    payload: dict[str, Any] | None,
    actor: Actor,
    *,
    label: str = "",
    blob: bytes | None = None,
    notify: bool = True,
) -> int:
    """Queue a job and ring the worker; the job's id. PermissionDenied below the kind's role."""
    with write_session(engine) as session:
        job_id = add_job(session, actor, kind, payload, label=label, blob=blob).id
    if notify:
        send(engine, [job_id])
    return job_id


def active(engine: Engine, kind: str) -> JobView | None:
    """The oldest queued or running job of this kind (whoever or whatever queued it), or None."""
    query = select(Job).where(Job.kind == kind, Job.status.in_(ACTIVE)).order_by(Job.id).limit(1)
    with read_session(engine) as session:
        job = session.exec(query).first()
        return JobView.of(job) if job else None


def ensure(
    engine: Engine, kind: str, payload: dict[str, Any] | None, actor: Actor, *, label: str = ""
) -> tuple[JobView, bool]:
    """One job of this kind at a time: the queued or running one if there is one (a schedule's, another
    replica's, another tab's), else a new one, rung to the worker. (its view, True when queued now).
    Two callers at once queue one job: the kind is its singleton key, unique among queued and running jobs,
    so the loser's insert fails and it reads the winner's job."""
    for _ in range(3):
        found = active(engine, kind)
        if found is not None:
            return found, False
        try:
            with write_session(engine) as session:
                job_id = add_job(session, actor, kind, payload, label=label, singleton=kind).id
        except sa.exc.IntegrityError:
            continue  # another process queued it between our read and our insert: read it
        send(engine, [job_id])
        return get(engine, job_id), True
    raise InvalidInput(f"Could not queue a {kind!r} job: another one kept appearing and finishing. Try again.")


def send(engine: Engine, job_ids: list[int]) -> None:
    """Ask the transport to deliver the jobs; mark them sent. A failure is logged: the tick retries."""
    try:
        transport.for_engine(engine).send(job_ids)
    except Exception:
        log.exception("could not hand jobs %s to the queue; a worker's tick will send them again", job_ids)
        return
    with engine.begin() as conn:
        conn.execute(sa.update(Job).where(Job.id.in_(job_ids)).values(sent_at=utcnow()))


def cancel(engine: Engine, job_id: int, actor: Actor) -> JobView:
    """Cancel a job: a queued one never runs; a running one stops at its next progress step.
    The requester or an admin may cancel; a finished job is left as it is (InvalidInput)."""
    with write_session(engine) as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise NotFound(f"There is no job {job_id}.")
        if job.requested_by != actor.label and not allowed(actor, Role.admin):  # the role now, not when signed in
            raise PermissionDenied(f"{actor.label} may not cancel job {job_id}: only its requester or an admin.")
        if job.status in DONE:
            raise InvalidInput(f"Job {job_id} is already {job.status}.")
        if job.status == "queued":
            job.status, job.finished_at, job.singleton = "cancelled", utcnow(), None
            job.message, job.error_kind = f"Cancelled by {actor.label} before it started", "cancelled"
        else:
            job.cancel_requested, job.message = True, f"Cancelling (asked by {actor.label}) ..."
        session.add(job)
        audit.record(session, actor, "job.cancel", "job", job_id, {"status": job.status})
        return JobView.of(job)


def get(engine: Engine, job_id: int | None) -> JobView | None:
    if job_id is None:
        return None
    with read_session(engine) as session:
        job = session.get(Job, job_id)
        return JobView.of(job) if job else None


def list_jobs(
    engine: Engine,
    *,
    status: str | None = None,
    kind: str | None = None,
    requested_by: str | None = None,
    limit: int = 100,
) -> list[JobView]:
    """Newest first; at most `limit` (capped at 1,000)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"Unknown job status {status!r}; expected one of: {', '.join(STATUSES)}.")
    query = select(Job).order_by(Job.id.desc()).limit(min(max(int(limit), 1), 1000))
    if status:
        query = query.where(Job.status == status)
    if kind:
        query = query.where(Job.kind == kind)
    if requested_by:
        query = query.where(Job.requested_by == requested_by)
    with read_session(engine) as session:
        return [JobView.of(j) for j in session.exec(query)]


def blob(engine: Engine, job_id: int) -> bytes | None:
    with read_session(engine) as session:
        row = session.get(JobBlob, job_id)
        return row.data if row else None
