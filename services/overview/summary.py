"""Overview: the health of the loop at a glance, one cheap read per tile.

Champion and its age; open alerts by severity; drift status and the headline metric with its trend and
the CBPE estimate for the recent, mostly unlabelled weeks (both from services/monitoring, which reads
the columnar day blocks and caches its results); feedback inflow and the untriaged / overdue count;
running experiments; approvals awaiting the user; the top backlog items; the last decisions from the
audit log (retrains, promotions, rollbacks, experiment conclusions, closed backlog items), each once:
an executed approval request is one decision with its request's kind.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.backlog import items as backlog
from services.core import clock
from services.core.db import read_session, utc_day
from services.core.roles import Actor, Role
from services.core.schema_accounts import AuditEvent
from services.core.schema_experiments import Experiment
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import Deployment, ModelVersion
from services.core.schema_monitoring import Alert, AlertRule
from services.core.timeutil import to_utc, utcnow
from services.experiments.progress import DEFINITION as PROGRESS_DEFINITION  # noqa: F401  (the tile's tooltip)
from services.experiments.progress import SampleProgress, progress_of
from services.feedback import triage as feedback
from services.governance import approvals
from services.monitoring.refresh import refresh_monitoring  # noqa: F401  (re-exported for older callers)
from services.monitoring.summary import (  # noqa: F401  (re-exported: the Overview's monitoring tile)
    DriftStatus,
    Headline,
    MonitoringStatus,
    monitoring_status,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopCounts:
    predictions: int
    outcomes: int
    feedback: int
    model_versions: int
    champion: str | None  # "model v3", or None


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


# Rows the monitoring blocks count (one aggregate over a row per version and day), plus the rows above the
# blocks' watermark (a primary-key range: what waits for the next refresh). count(*) over the prediction and
# outcome tables reads every row: 0.2 s of CPU (2.6 s wall, cold cache) at 1M predictions on SQLite, growing
# with rows (issue 17: the pages stay flat in rows).
_MONITORED = sa.text(
    "SELECT coalesce((SELECT sum(n_rows) FROM monitoring_block), 0), "
    "coalesce((SELECT sum(n_labelled) FROM monitoring_block), 0), "
    "coalesce((SELECT last_prediction_id FROM monitoring_sync WHERE id = 1), 0), "
    "coalesce((SELECT last_outcome_id FROM monitoring_sync WHERE id = 1), 0)"
)


def _prediction_and_outcome_counts(session) -> tuple[int, int]:
    """Predictions and outcomes as monitoring counts them: every row in a day block (days a retention purge
    froze keep theirs), plus every row imported since the last refresh. An outcome that arrived while that
    refresh read its day can be counted twice until the next refresh, which the new outcome itself queues."""
    rows, labelled, last_p, last_o = session.execute(_MONITORED).one()
    pending_p = session.exec(select(func.count()).select_from(Prediction).where(Prediction.id > last_p)).one()
    pending_o = session.exec(select(func.count()).select_from(Outcome).where(Outcome.id > last_o)).one()
    return int(rows) + int(pending_p), int(labelled) + int(pending_o)


def loop_counts(engine: Engine) -> LoopCounts:
    with read_session(engine) as session:
        champion = session.exec(
            select(ModelVersion.model_name, ModelVersion.version)
            .join(Deployment, Deployment.model_version_id == ModelVersion.id)
            .where(Deployment.stage == "full", Deployment.ended_at.is_(None))
            .order_by(Deployment.started_at.desc())
        ).first()
        predictions, outcomes = _prediction_and_outcome_counts(session)
        return LoopCounts(
            predictions=predictions,
            outcomes=outcomes,
            feedback=_count(session, Feedback),
            model_versions=_count(session, ModelVersion),
            champion=f"{champion[0]} v{champion[1]}" if champion else None,
        )


# --- champion ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Champion:
    model_name: str
    version: int
    model_version_id: int
    since: datetime  # when its current full deployment started
    traffic_share: float
    age_days: float

    @property
    def label(self) -> str:
        return f"{self.model_name} v{self.version}"


def champions(engine: Engine, at: datetime | None = None) -> list[Champion]:
    """The version serving each model at full stage (now on the data clock, or at `at`), with how long it
    has served."""
    at = to_utc(at) if at else clock.data_now(engine)
    with read_session(engine) as session:
        rows = session.exec(
            select(ModelVersion.model_name, ModelVersion.version, ModelVersion.id, Deployment.started_at,
                   Deployment.traffic_share)
            .join(Deployment, Deployment.model_version_id == ModelVersion.id)
            .where(Deployment.stage == "full", Deployment.started_at <= at,
                   sa.or_(Deployment.ended_at.is_(None), Deployment.ended_at > at))
            .order_by(ModelVersion.model_name, Deployment.started_at.desc())
        ).all()  # fmt: skip
    out, seen = [], set()
    for name, version, mv_id, started, share in rows:
        if name in seen:
            continue
        seen.add(name)
        since = to_utc(started)
        out.append(Champion(name, version, mv_id, since, float(share), (at - since).total_seconds() / 86400))
    return out


# --- alerts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertCounts:
    open_by_severity: dict[str, int]
    acknowledged: int

    @property
    def open_total(self) -> int:
        return sum(self.open_by_severity.values())


def alert_counts(engine: Engine) -> AlertCounts:
    with read_session(engine) as session:
        rows = session.exec(
            select(Alert.state, AlertRule.severity, func.count())
            .join(AlertRule, AlertRule.id == Alert.rule_id)
            .where(Alert.state.in_(["open", "acknowledged"]))
            .group_by(Alert.state, AlertRule.severity)
        ).all()
    by_severity: dict[str, int] = {}
    acknowledged = 0
    for state, severity, n in rows:
        if state == "open":
            by_severity[severity] = by_severity.get(severity, 0) + int(n)
        else:
            acknowledged += int(n)
    return AlertCounts(by_severity, acknowledged)


# --- monitoring: drift and the headline metric (saved by services/monitoring, read here) -----------

# --- feedback --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackStatus:
    total: int
    untriaged: int
    overdue: int
    sla_days: int
    weekly: pd.DataFrame  # week (Monday), items: the last 8 weeks of data
    last_week: int
    previous_week: int


def feedback_status(engine: Engine, weeks: int = 8) -> FeedbackStatus:
    counts = feedback.queue_counts(engine)
    with read_session(engine) as session:
        last = session.exec(select(func.max(Feedback.ts))).one()
        if last is None:
            frame = pd.DataFrame(columns=["week", "items"])
        else:
            since = to_utc(last) - timedelta(weeks=weeks)
            day = utc_day(Feedback.ts, engine).label("day")
            rows = session.exec(select(day, func.count()).where(Feedback.ts > since).group_by(day)).all()
            frame = pd.DataFrame(rows, columns=["day", "items"])
            frame["week"] = pd.to_datetime(frame["day"]).dt.to_period("W-SUN").dt.start_time
            frame = frame.groupby("week", as_index=False)["items"].sum()
    last_week = int(frame["items"].iloc[-1]) if len(frame) else 0
    previous = int(frame["items"].iloc[-2]) if len(frame) > 1 else 0
    return FeedbackStatus(counts.total, counts.untriaged, counts.overdue, counts.sla_days, frame, last_week, previous)


# --- experiments, approvals, backlog ---------------------------------------------------------------


@dataclass(frozen=True)
class RunningExperiment:
    id: int
    key: str
    name: str
    started: datetime | None
    days_running: float | None
    exposures: int  # distinct units exposed so far (any arm)
    planned_total: int | None  # planned sample size per arm x arms
    stopping_rule: str
    sample: SampleProgress | None = None  # services.experiments.progress: the one "% of planned sample"

    @property
    def progress(self) -> float | None:
        """units exposed / planned total (services.experiments.progress.DEFINITION); None without a plan."""
        return self.sample.fraction if self.sample else None


def running_experiments(engine: Engine, at: datetime | None = None) -> list[RunningExperiment]:
    at = to_utc(at) if at else clock.data_now(engine)  # days running, on the data clock
    with read_session(engine) as session:
        query = select(Experiment).where(Experiment.status == "running").order_by(Experiment.start_at)
        rows = session.exec(query).all()
    samples = progress_of(engine, rows)
    out = []
    for r in rows:
        started = to_utc(r.start_at) if r.start_at else None
        sample = samples[r.id]
        out.append(
            RunningExperiment(
                r.id, r.key, r.name or r.key, started,
                (at - started).total_seconds() / 86400 if started else None, sample.units,
                sample.planned_total, r.stopping_rule, sample,
            )
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class ApprovalStatus:
    awaiting_me: list[Any]  # ApprovalRequest rows this user may decide
    pending_total: int


def approval_status(engine: Engine, actor: Actor) -> ApprovalStatus:
    pending = approvals.list_requests(engine, status="pending")
    mine = approvals.list_requests(engine, awaiting=actor) if actor.can(Role.approver) else []
    return ApprovalStatus(mine, len(pending))


def top_backlog(engine: Engine, limit: int = 5) -> list[Any]:
    return backlog.ranked(engine, limit=limit)


# --- decisions timeline ----------------------------------------------------------------------------


DECISION_ACTIONS = (
    "model.register", "model.deploy", "model.undeploy", "approval.execute", "experiment.conclude",
    "experiment.stop", "backlog.close", "backlog.proposal.accept",
)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    ts: datetime
    actor: str
    action: str  # the audit action that stands for the decision (approval.execute for an executed request)
    kind: str  # retrain, promotion, canary, rollback, rollout, experiment, backlog, model
    text: str
    request_id: int | None = None  # the approval request it executed, if any


# an executed request's kind -> the decision's kind, and the words its effects are told with
REQUEST_KINDS = {"promote": "promotion", "canary": "canary", "rollback": "rollback", "retrain": "retrain",
                 "stop-experiment": "experiment"}  # fmt: skip
REQUEST_PREFIX = {"promote": "Promoted", "canary": "Canary started", "rollback": "Rolled back"}


def _describe(action: str, p: dict[str, Any]) -> tuple[str, str]:
    model = f"{p.get('model_name', '')} v{p.get('version', '')}".strip()
    if action == "model.register":
        trigger = p.get("trigger")
        if p.get("parent_id") or (trigger and trigger != "manual"):
            return "retrain", f"Retrained: {model} registered" + (f" (trigger {trigger})" if trigger else "")
        return "model", f"Registered {model}"
    if action == "model.deploy":
        share = p.get("traffic_share")
        share_text = f" at {share:.0%}" if isinstance(share, int | float) else ""
        kind = "promotion" if p.get("stage") == "full" else "canary"
        return kind, f"{model} deployed {p.get('stage', '')}{share_text}"
    if action == "model.undeploy":
        return "rollout", f"{model} {p.get('stage', '')} deployment ended"
    if action == "approval.execute":
        kind = str(p.get("kind", ""))
        return REQUEST_KINDS.get(kind, "approval"), f"Approved {kind} executed ({p.get('subject', '')})"
    if action in ("experiment.conclude", "experiment.stop"):
        verb = "concluded" if action == "experiment.conclude" else "stopped"
        outcome = f": {p['outcome']}" if p.get("outcome") else ""
        return "experiment", f"Experiment {p.get('key') or p.get('name') or ''} {verb}{outcome}"
    if action == "backlog.close":
        return "backlog", f"Backlog item closed: {p.get('metric')} {p.get('before')} -> {p.get('after')}"
    if action == "backlog.proposal.accept":
        return "backlog", f"Proposal accepted as backlog item #{p.get('item_id')}"
    return "other", action


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _group_key(event_id: int, action: str, subject_id: str, p: dict[str, Any]) -> tuple[str, Any]:
    """Events written by one decision share a key: an executed request and the deployments, the stopped
    experiment or the registered retrain it caused (all written in the same transaction)."""
    if action == "approval.execute":
        result = p.get("result") if isinstance(p.get("result"), dict) else {}
        if p.get("kind") == "retrain" and _as_int(result.get("model_version_id")) is not None:
            return ("version", _as_int(result["model_version_id"]))
        return ("request", _as_int(subject_id))
    if action in ("model.deploy", "model.undeploy") and _as_int(p.get("approval_request_id")) is not None:
        return ("request", _as_int(p["approval_request_id"]))
    if action == "experiment.stop" and _as_int(p.get("request_id")) is not None:
        return ("request", _as_int(p["request_id"]))
    if action == "model.register":
        return ("version", _as_int(subject_id))
    return ("event", event_id)


def _merge(events: list[tuple[datetime, str, str, str, dict[str, Any]]]) -> Decision:
    """One decision from its events (newest first): an executed request is told once, with its own kind
    and what it did; a lone event is told as it is."""
    execute = next((e for e in events if e[2] == "approval.execute"), None)
    if execute is None:
        ts, actor, action, _, data = events[0]
        kind, text = _describe(action, data)
        return Decision(to_utc(ts), actor, action, kind, text)
    ts, actor, action, subject_id, data = execute
    request_kind = str(data.get("kind", ""))
    kind, text = _describe(action, data)
    effects = [_describe(a, d)[1] for _, _, a, _, d in reversed(events) if a != "approval.execute"]
    if effects:
        prefix = REQUEST_PREFIX.get(request_kind)
        text = (f"{prefix}: " if prefix else "") + "; ".join(effects)
    request_id = _as_int(subject_id)
    return Decision(to_utc(ts), actor, action, kind, f"{text} (request #{request_id})", request_id)


DECISIONS_BATCH = 40  # audit events read per round trip while collecting the last decisions


def decisions(
    engine: Engine, limit: int = 10, since: datetime | None = None, until: datetime | None = None,
) -> list[Decision]:  # fmt: skip
    """The last decisions from the audit log, newest first, each once: an executed approval request is one
    decision with its request's kind (a rollback is a rollback, not also a promotion by its deployment)."""
    query = select(AuditEvent.id, AuditEvent.ts, AuditEvent.actor, AuditEvent.action, AuditEvent.subject_id,
                   AuditEvent.payload).where(AuditEvent.action.in_(DECISION_ACTIONS))  # fmt: skip
    if since is not None:
        query = query.where(AuditEvent.ts >= since)
    if until is not None:
        query = query.where(AuditEvent.ts < until)
    groups: OrderedDict[tuple[str, Any], list[tuple[datetime, str, str, str, dict[str, Any]]]] = OrderedDict()
    batch, last_id = max(4 * limit, DECISIONS_BATCH), None
    with read_session(engine) as session:
        # One decision's events are written in one transaction, so their ids are adjacent: once a group
        # beyond the first `limit` has started, those `limit` groups are complete.
        while len(groups) <= limit:
            page = query if last_id is None else query.where(AuditEvent.id < last_id)
            rows = session.exec(page.order_by(AuditEvent.id.desc()).limit(batch)).all()
            for event_id, ts, actor, action, subject_id, payload in rows:
                try:
                    data = json.loads(payload) if payload else {}
                except ValueError:
                    data = {}
                data = data if isinstance(data, dict) else {}
                key = _group_key(event_id, action, subject_id, data)
                groups.setdefault(key, []).append((ts, actor, action, subject_id, data))
            if len(rows) < batch:
                break
            last_id = rows[-1][0]
    return [_merge(events) for events in list(groups.values())[:limit]]


# --- everything, for the report ---------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    counts: LoopCounts
    champions: list[Champion]
    alerts: AlertCounts
    monitoring: MonitoringStatus
    feedback: FeedbackStatus
    experiments: list[RunningExperiment]
    approvals: ApprovalStatus
    backlog: list[Any]
    decisions: list[Decision]
    taken_at: datetime = field(default_factory=utcnow)


def snapshot(engine: Engine, actor: Actor) -> Snapshot:
    return Snapshot(
        loop_counts(engine), champions(engine), alert_counts(engine), monitoring_status(engine),
        feedback_status(engine), running_experiments(engine), approval_status(engine, actor), top_backlog(engine),
        decisions(engine),
    )  # fmt: skip
