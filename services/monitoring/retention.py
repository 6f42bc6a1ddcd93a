"""Retention of raw rows, per model: predictions and outcomes older than `keep_days` days before the
model's latest day are purged from the database tables and the raw store's Parquet days; the monitoring
day blocks and day summaries stay, so Monitoring still shows those days' aggregates (rows not folded yet
are folded into the summaries first).

Admin only, audited in the same transaction as the deletes (counts, the cutoff, the raw days). The
purge records `purged_before` on the model's policy: the monitoring build (block_build) never rebuilds
a day before it from the rows that are gone. Kept on purpose: predictions a feedback item points at
(training sets read their features) with their outcomes, and the newest prediction and outcome rows
(their ids are the monitoring watermark: SQLite reuses a deleted highest id, and a reused id would be
skipped by the incremental refresh). Raw-store day folders are removed after the commit (a failure
there leaves them for the next run: they are still before the cutoff).

The worker runs `purge_all` daily (job kind monitoring.retention, queued by the worker's tick); the CLI
runs `python -m services retention set MODEL DAYS` and `retention run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.core.schema_retention import RetentionPolicy
from services.core.timeutil import to_utc, utcnow
from services.monitoring import raw_store, summary_fold

MAX_DAYS = 3650
KIND = "monitoring.retention"


@dataclass(frozen=True)
class PurgeResult:
    model_name: str
    keep_days: int
    latest_day: date | None
    cutoff: date | None  # rows of days before this one were purged
    predictions: int = 0
    outcomes: int = 0
    kept_for_feedback: int = 0
    raw_days: dict[int, list[str]] = field(default_factory=dict)  # version -> days dropped

    def summary(self) -> str:
        if self.cutoff is None:
            return f"{self.model_name}: no data, nothing purged."
        raw = sum(len(v) for v in self.raw_days.values())
        return (f"{self.model_name}: kept {self.keep_days} days (from {self.cutoff}); purged {self.predictions} "
                f"prediction(s), {self.outcomes} outcome(s), {raw} raw-store day(s); {self.kept_for_feedback} "
                "linked to feedback kept.")  # fmt: skip


def _versions(session, model_name: str) -> dict[int, int]:
    """id -> version number of the model's versions."""
    rows = session.exec(select(ModelVersion.id, ModelVersion.version).where(ModelVersion.model_name == model_name))
    return {int(i): int(v) for i, v in rows.all()}


def set_retention(engine: Engine, actor: Actor, model_name: str, keep_days: int) -> RetentionPolicy:
    """Keep `keep_days` days of raw rows of the model (admins only; audited)."""
    require(actor, Role.admin, "set a model's retention")
    try:
        keep_days = int(keep_days)
    except (TypeError, ValueError):
        raise InvalidInput(f"{keep_days!r} is not a whole number of days.") from None
    if not 1 <= keep_days <= MAX_DAYS:
        raise InvalidInput(f"Keep between 1 and {MAX_DAYS} days of raw rows (got {keep_days}).")
    with write_session(engine) as session:
        if not _versions(session, model_name):
            raise NotFound(f"No model named {model_name!r}.")
        policy = session.get(RetentionPolicy, model_name)
        old = None if policy is None else policy.keep_days
        policy = policy or RetentionPolicy(model_name=model_name, keep_days=keep_days)
        policy.keep_days, policy.updated_by, policy.updated_at = keep_days, actor.label, utcnow()
        session.add(policy)
        audit.record(session, actor, "retention.set", "model", model_name, {"from": old, "to": keep_days})
        session.flush()
        session.expunge(policy)
        return policy


def policies(engine: Engine) -> list[RetentionPolicy]:
    with read_session(engine) as session:
        return list(session.exec(select(RetentionPolicy).order_by(RetentionPolicy.model_name)).all())


def protected_days(engine_or_conn) -> dict[int, date]:
    """model version id -> the day before which its rows were purged (the build must not rebuild those)."""
    query = sa.select(ModelVersion.id, RetentionPolicy.purged_before).join(
        RetentionPolicy, RetentionPolicy.model_name == ModelVersion.model_name
    ).where(RetentionPolicy.purged_before.is_not(None))  # fmt: skip
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            rows = conn.execute(query).all()
    else:
        rows = engine_or_conn.execute(query).all()
    return {int(mv): d if isinstance(d, date) else date.fromisoformat(str(d)) for mv, d in rows}


def _raw_days(raw_root: raw_store.RawStore | None, model_name: str, version: int) -> list[date]:
    """The version's days in the raw store (none for a name the store cannot hold as a folder)."""
    if raw_root is None or not raw_store.NAME.match(model_name):
        return []
    return raw_store.days(raw_root, model_name, version)


def _latest_day(
    session, ids: list[int], raw_root: raw_store.RawStore | None, model_name: str, versions: dict[int, int]
) -> date | None:
    latest = session.execute(sa.select(sa.func.max(Prediction.ts)).where(Prediction.model_version_id.in_(ids))).scalar()
    days = [d for v in versions.values() for d in _raw_days(raw_root, model_name, v)]
    candidates = [*days, *([to_utc(latest).date()] if latest is not None else [])]
    return max(candidates) if candidates else None


def _delete_rows(session, ids: list[int], cut: datetime) -> tuple[int, int, int]:
    """Deletes the versions' outcomes and predictions before `cut`, except those feedback points at and
    the newest ids; returns (predictions, outcomes, kept for feedback)."""
    linked = sa.exists().where(Feedback.request_id == Prediction.request_id)
    old = sa.and_(Prediction.model_version_id.in_(ids), Prediction.ts < cut)
    top_o = session.execute(sa.select(sa.func.max(Outcome.id))).scalar() or 0
    top_p = session.execute(sa.select(sa.func.max(Prediction.id))).scalar() or 0
    old_requests = sa.select(Prediction.request_id).where(old, ~linked)
    outcomes = session.execute(
        sa.delete(Outcome).where(Outcome.id < top_o, Outcome.request_id.in_(old_requests))
    ).rowcount  # fmt: skip
    has_outcome = sa.exists().where(Outcome.request_id == Prediction.request_id)
    doomed = sa.select(Prediction.id).where(old, ~linked, ~has_outcome, Prediction.id < top_p)
    predictions = session.execute(sa.delete(Prediction).where(Prediction.id.in_(doomed.scalar_subquery()))).rowcount
    kept = session.execute(sa.select(sa.func.count()).select_from(Prediction).where(old, linked)).scalar()
    return int(predictions or 0), int(outcomes or 0), int(kept or 0)


def purge(engine: Engine, actor: Actor, model_name: str, raw_root: raw_store.Location | None = None) -> PurgeResult:
    """Purge the model's raw rows older than its retention (admins and the system only; audited)."""
    require(actor, Role.admin, "purge raw rows")
    raw_root = raw_store.open_store(raw_root) if raw_root is not None else raw_store.root_for(engine)
    # Rows still waiting for the day summaries are folded first: once purged, the summaries are all that
    # is left of those days (and days before the purge are frozen: summary_fold never adds to them).
    summary_fold.refresh(engine)
    with write_session(engine) as session:
        policy = session.get(RetentionPolicy, model_name)
        if policy is None:
            raise NotFound(f"{model_name} has no retention set: `retention set {model_name} DAYS` first.")
        keep = policy.keep_days
        versions = _versions(session, model_name)
        latest = _latest_day(session, list(versions), raw_root, model_name, versions) if versions else None
        if latest is None:
            return PurgeResult(model_name, keep, None, None)
        cutoff = latest - timedelta(days=keep)
        predictions, outcomes, kept = _delete_rows(
            session, list(versions), datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
        )
        raw_days = {v: [d.isoformat() for d in _raw_days(raw_root, model_name, v) if d < cutoff]
                    for v in versions.values()}  # fmt: skip
        raw_days = {v: d for v, d in raw_days.items() if d}
        policy.purged_before = max(cutoff, policy.purged_before or cutoff)
        session.add(policy)
        audit.record(session, actor, "retention.purge", "model", model_name, {
            "keep_days": keep, "latest_day": latest.isoformat(), "cutoff": cutoff.isoformat(),
            "predictions": predictions, "outcomes": outcomes, "kept_for_feedback": kept,
            "raw_days": {str(v): len(d) for v, d in raw_days.items()},
        })  # fmt: skip
    for version in raw_days:  # after the commit: files cannot roll back
        if raw_root is not None:
            raw_store.drop_before(raw_root, model_name, version, cutoff)
    return PurgeResult(model_name, keep, latest, cutoff, predictions, outcomes, kept, raw_days)


def purge_all(engine: Engine, actor: Actor, raw_root: raw_store.Location | None = None) -> list[PurgeResult]:
    """Every model with a retention policy (the daily job)."""
    require(actor, Role.admin, "purge raw rows")
    return [purge(engine, actor, p.model_name, raw_root) for p in policies(engine)]
