"""Overview: the health of the loop at a glance, one cheap read per tile.

Champion and its age; open alerts by severity; drift status and the headline metric with its trend and
the CBPE estimate for the recent, mostly unlabelled weeks (both from services/monitoring, which reads
the columnar day blocks and caches its results); feedback inflow and the untriaged / overdue count;
running experiments; approvals awaiting the user; the top backlog items; the last decisions from the
audit log (retrains, promotions, rollbacks, experiment conclusions, closed backlog items), each once:
an executed approval request is one decision with its request's kind.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.backlog import items as backlog
from services.core.db import read_session, utc_day, write_session
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.core.schema_accounts import AuditEvent
from services.core.schema_experiments import Experiment, Exposure
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import Deployment, ModelVersion
from services.core.schema_monitoring import Alert, AlertRule, DerivedSummary
from services.core.timeutil import to_utc, utcnow
from services.feedback import triage as feedback
from services.governance import approvals
from services.monitoring import block_build, drift_window, metrics
from services.monitoring import blocks as md
from services.monitoring import views as mon

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


def loop_counts(engine: Engine) -> LoopCounts:
    with read_session(engine) as session:
        champion = session.exec(
            select(ModelVersion.model_name, ModelVersion.version)
            .join(Deployment, Deployment.model_version_id == ModelVersion.id)
            .where(Deployment.stage == "full", Deployment.ended_at.is_(None))
            .order_by(Deployment.started_at.desc())
        ).first()
        return LoopCounts(
            predictions=_count(session, Prediction),
            outcomes=_count(session, Outcome),
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
    """The version serving each model at full stage (now, or at `at`), with how long it has served."""
    at = to_utc(at) if at else utcnow()
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


# --- monitoring: drift and the headline metric ------------------------------------------------------


@dataclass(frozen=True)
class DriftStatus:
    version_label: str
    reference: mon.Window
    current: mon.Window
    n_features: int
    n_drifted: int
    share: float
    dataset_drift: bool
    drifted_columns: tuple[str, ...]


@dataclass(frozen=True)
class Headline:
    version_label: str
    metric: str
    # window_start, window_end, n, labelled_share, realized, estimate, lower, upper (weekly)
    weeks: pd.DataFrame
    last_realized: float | None
    previous_realized: float | None
    estimate_recent: float | None  # CBPE on the last week, whose outcomes are mostly unknown
    estimate_week: str | None
    labelled_share_recent: float | None

    @property
    def trend(self) -> float | None:
        if self.last_realized is None or self.previous_realized is None:
            return None
        return self.last_realized - self.previous_realized


@dataclass(frozen=True)
class MonitoringStatus:
    drift: DriftStatus | None
    headline: Headline | None
    problem: str | None = None  # why a part could not be computed (shown, never raised)
    stale: bool = False  # predictions or outcomes arrived that the day blocks do not hold yet


MIN_LABELLED_SHARE = 0.5  # a week counts as "realized" when at least half its predictions have outcomes
HEADLINE_WEEKS = 7  # the trend covers the last 7 ISO weeks of the version's data


def _headline(engine: Engine, info: mon.VersionInfo, reference: mon.Window, metric: str) -> Headline:
    """Realized and CBPE-estimated `metric` for each of the last HEADLINE_WEEKS weeks (monitoring's
    metric_value per week: only those weeks' blocks are read). Saved with the drift status by
    monitoring_status, so it is computed once per change of the blocks."""
    assert info.first_day is not None and info.last_day is not None
    first = max(info.first_day, info.last_day - timedelta(days=7 * HEADLINE_WEEKS))
    windows = mon.rolling_windows(first, info.last_day, "week")[-HEADLINE_WEEKS:]
    rows = []
    for w in windows:
        realized = metrics.metric_value(engine, info.id, metric, w)
        est = metrics.metric_value(engine, info.id, mon.ESTIMATED_PREFIX + metric, w, reference=reference)
        n = int(est.n)
        rows.append({"window_start": w.start, "window_end": w.end, "n": n,
                     "labelled_share": realized.n / n if n else float("nan"),
                     "realized": realized.value if realized.n else float("nan"), "estimate": est.value,
                     "lower": est.detail.get("lower"), "upper": est.detail.get("upper")})  # fmt: skip
    weeks = pd.DataFrame(rows, columns=["window_start", "window_end", "n", "labelled_share", "realized", "estimate",
                                        "lower", "upper"])  # fmt: skip
    known = weeks[(weeks["labelled_share"] >= MIN_LABELLED_SHARE) & weeks["realized"].notna()]
    last = weeks.iloc[-1] if len(weeks) else None
    return Headline(
        info.label, metric, weeks,
        float(known["realized"].iloc[-1]) if len(known) else None,
        float(known["realized"].iloc[-2]) if len(known) > 1 else None,
        float(last["estimate"]) if last is not None else None,
        f"{last['window_start']:%Y-%m-%d} to {last['window_end']:%Y-%m-%d}" if last is not None else None,
        float(last["labelled_share"]) if last is not None else None,
    )  # fmt: skip


def _main_version(engine: Engine) -> mon.VersionInfo | None:
    return mon.default_version(mon.list_versions(engine))


def monitoring_status(engine: Engine, metric: str = "accuracy") -> MonitoringStatus:
    """Drift of the champion (its first 14 days against its last 28, monitoring's defaults) and the
    weekly headline metric: realized where outcomes are known, CBPE-estimated for the recent weeks.

    The result is saved (derived_summary) under a digest of its inputs, the champion's block
    generations and windows: a new process or another replica reads it in one query instead of
    decoding the blocks again, and new data (a rebuilt block) changes the digest, so it is recomputed."""
    try:
        stale = block_build.needs_refresh(engine)
        info = _main_version(engine)
    except LoopdeckError as exc:
        return MonitoringStatus(None, None, str(exc))
    if info is None:
        return MonitoringStatus(None, None, None, stale)
    try:
        reference, current = mon.default_windows(info)
    except LoopdeckError as exc:
        return MonitoringStatus(None, None, str(exc), stale)
    key = f"overview.monitoring:{info.id}:{metric}"
    token = _summary_token(info, reference, current, metric, md.block_index(engine, info.id))
    saved = _saved_summary(engine, key, token)
    if saved is not None:
        return MonitoringStatus(*saved, None, stale)
    drift = headline = None
    problems = []
    try:
        with mon.one_version_list(engine):
            report = drift_window.drift_report(engine, info.id, reference, current)
            drift = DriftStatus(info.label, reference, current, report.n_features, report.n_drifted,
                                report.share_drifted, report.drifted,
                                tuple(r.column for r in report.features if r.drifted))  # fmt: skip
            headline = _headline(engine, info, reference, metric)
    except LoopdeckError as exc:
        problems.append(str(exc))
    if not problems:
        _save_summary(engine, key, token, drift, headline)
    return MonitoringStatus(drift, headline, "; ".join(problems) or None, stale)


def refresh_monitoring(
    engine: Engine, progress: Callable[[float, str], None] | None = None
) -> block_build.RefreshResult:
    """Fold new predictions and outcomes into the monitoring blocks and, when blocks changed, save the
    Overview's monitoring summary for them at once (its next view, in any process, reads it). Every
    refresh goes through here: alert evaluation, `monitoring refresh`, the Monitoring page, the demo."""
    result = block_build.refresh(engine, progress)
    if result.changed:
        monitoring_status(engine)
    return result


SUMMARY_FORMAT = 1  # bump when the saved shape or what goes into it changes


def _summary_token(info: mon.VersionInfo, reference: mon.Window, current: mon.Window, metric: str,
                   blocks: list) -> str:  # fmt: skip
    parts = [SUMMARY_FORMAT, info.id, info.label, metric, reference.label, current.label, MIN_LABELLED_SHARE,
             HEADLINE_WEEKS, [(b.day.isoformat(), b.generation) for b in blocks]]  # fmt: skip
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _window(d: dict[str, str]) -> mon.Window:
    return mon.Window(date.fromisoformat(d["start"]), date.fromisoformat(d["end"]))


def _summary_payload(drift: DriftStatus | None, headline: Headline | None) -> dict[str, Any]:
    def num(x: Any) -> float | None:
        return None if x is None or pd.isna(x) else float(x)

    weeks = []
    if headline is not None:
        for row in headline.weeks.itertuples(index=False):
            week = {"window_start": row.window_start.isoformat(), "window_end": row.window_end.isoformat(),
                    "n": int(row.n)}  # fmt: skip
            week.update({c: num(getattr(row, c)) for c in ("labelled_share", "realized", "estimate", "lower", "upper")})
            weeks.append(week)
    return {
        "drift": None if drift is None else {
            "version_label": drift.version_label, "reference": drift.reference.as_dict(),
            "current": drift.current.as_dict(), "n_features": drift.n_features, "n_drifted": drift.n_drifted,
            "share": drift.share, "dataset_drift": drift.dataset_drift, "drifted_columns": list(drift.drifted_columns),
        },
        "headline": None if headline is None else {
            "version_label": headline.version_label, "metric": headline.metric, "weeks": weeks,
            "last_realized": num(headline.last_realized), "previous_realized": num(headline.previous_realized),
            "estimate_recent": num(headline.estimate_recent), "estimate_week": headline.estimate_week,
            "labelled_share_recent": num(headline.labelled_share_recent),
        },
    }  # fmt: skip


def _from_payload(payload: dict[str, Any]) -> tuple[DriftStatus | None, Headline | None]:
    d, h = payload.get("drift"), payload.get("headline")
    drift = None if d is None else DriftStatus(
        d["version_label"], _window(d["reference"]), _window(d["current"]), d["n_features"], d["n_drifted"],
        d["share"], d["dataset_drift"], tuple(d["drifted_columns"]))  # fmt: skip
    headline = None
    if h is not None:
        weeks = pd.DataFrame(h["weeks"], columns=["window_start", "window_end", "n", "labelled_share", "realized",
                                                  "estimate", "lower", "upper"])  # fmt: skip
        for c in ("window_start", "window_end"):
            weeks[c] = [date.fromisoformat(v) for v in weeks[c]]
        for c in ("labelled_share", "realized", "estimate", "lower", "upper"):
            weeks[c] = weeks[c].astype("float64")
        headline = Headline(h["version_label"], h["metric"], weeks, h["last_realized"], h["previous_realized"],
                            h["estimate_recent"], h["estimate_week"], h["labelled_share_recent"])  # fmt: skip
    return drift, headline


def _saved_summary(engine: Engine, key: str, token: str) -> tuple[DriftStatus | None, Headline | None] | None:
    with read_session(engine) as session:
        row = session.get(DerivedSummary, key)
        if row is None or row.token != token:
            return None
        payload = row.payload
    try:
        return _from_payload(payload)
    except (KeyError, TypeError, ValueError):  # an older shape: recompute
        return None


def _save_summary(engine: Engine, key: str, token: str, drift: DriftStatus | None, headline: Headline | None) -> None:
    """Best effort: a replica saving the same summary at the same moment wins, this one moves on."""
    try:
        with write_session(engine) as session:
            row = session.get(DerivedSummary, key)
            if row is None:
                session.add(DerivedSummary(key=key, token=token, payload=_summary_payload(drift, headline)))
            else:
                row.token, row.payload, row.computed_at = token, _summary_payload(drift, headline), utcnow()
    except sa.exc.SQLAlchemyError:
        log.warning("could not save the Overview's monitoring summary %s", key, exc_info=True)


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
    exposures: int
    planned_total: int | None  # planned sample size per arm x arms
    stopping_rule: str

    @property
    def progress(self) -> float | None:
        return min(1.0, self.exposures / self.planned_total) if self.planned_total else None


def running_experiments(engine: Engine, at: datetime | None = None) -> list[RunningExperiment]:
    at = to_utc(at) if at else utcnow()
    with read_session(engine) as session:
        query = select(Experiment).where(Experiment.status == "running").order_by(Experiment.start_at)
        rows = session.exec(query).all()
        counts = dict(
            session.exec(
                select(Exposure.experiment_id, func.count())
                .where(Exposure.experiment_id.in_([r.id for r in rows]))
                .group_by(Exposure.experiment_id)
            ).all()
        ) if rows else {}  # fmt: skip
    out = []
    for r in rows:
        started = to_utc(r.start_at) if r.start_at else None
        arms = len(r.variants or []) or 2
        out.append(
            RunningExperiment(
                r.id, r.key, r.name or r.key, started,
                (at - started).total_seconds() / 86400 if started else None, int(counts.get(r.id, 0)),
                r.planned_sample_size * arms if r.planned_sample_size else None, r.stopping_rule,
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
