"""Roll out and roll back: executing approved requests, the routing production reads, shadow scores,
guard rails.

An approved request is executed as one stage (each stage is its own request, so each is approved):

    canary   stage "shadow" (0% traffic; the shadow's scores are recorded, never served) or "canary"
             (a share, e.g. 5% or 25%) for a candidate: it becomes a challenger
    promote  "full": the version becomes the champion; the old champion's full deployment ends and
             it is archived (or stays a challenger while it still serves a canary)
    rollback one step back to the previous champion (or to any earlier version named in the payload),
             or the end of one canary (payload end_deployment_id)
    stop-experiment  delegated to services.experiments.lifecycle.stop_experiment
    retrain  run by services.models.retraining.retrain_from_request (it takes minutes, not a transaction)

`plan` says in plain words exactly what executing would do, from the state as it is now, with a
digest of that state; `execute` locks the request and the model, re-plans, refuses when the digest
differs from the one the user confirmed, then writes the deployment changes, the request's
"executed" status and every audit event in ONE transaction. The model's version rows are locked
(SELECT ... FOR UPDATE on Postgres, BEGIN IMMEDIATE on SQLite), so two approvers racing to execute
get one execution and one refusal, and a reader never sees a model with no champion or two: the
champion's status and deployments change in the same commit. The history is never overwritten:
ended deployments get ended_at, ended_by and end_reason.

Guard rails: each canary or shadow request may carry a condition (payload "guardrail": its accuracy
or ROC AUC at most `max_drop` below the champion's over the same period; default accuracy, 0.02).
`check_guardrails` (the Models page's button, `python -m services guardrails` on a schedule) compares
them; a breach raises a critical alert on the stage's version and proposes a rollback of that stage
(an approval request).

Routing: after every change the routing that production should use right now (champion version
and share, challengers and their shares, shadows) is written to <routing dir>/<model>.json
(LOOPDECK_ROUTING_DIR, default data/routing/); `python -m services routing --json` prints the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.core import audit
from services.core.db import ROOT, read_session, write_session
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_governance import ApprovalRequest
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import Deployment, ModelVersion, ShadowScore
from services.core.schema_monitoring import Alert
from services.core.timeutil import to_utc, utcnow
from services.governance import approvals
from services.models import registry, retraining

ROUTING_DIR_ENV = "LOOPDECK_ROUTING_DIR"
DEFAULT_ROUTING_DIR = ROOT / "data" / "routing"
EXECUTABLE_KINDS = ("promote", "canary", "rollback", "stop-experiment")
DEFAULT_CANARY_SHARE = 0.05


# --- what will happen --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    request_id: int
    kind: str
    model_name: str | None
    steps: tuple[str, ...]  # plain language, in order
    executable: bool
    blocker: str  # why not, when not executable
    digest: str  # of the state the plan was made on: confirm against it
    deploy: dict[str, Any] | None = None  # {model_version_id, version, stage, traffic_share}
    end_deployment_ids: tuple[int, ...] = ()


def _pct(share: float) -> str:
    return f"{share * 100:.4g}%"


def _state_digest(versions: dict[int, ModelVersion], open_rows: list[Deployment], request: ApprovalRequest) -> str:
    state = {
        "versions": sorted((v.id, v.status) for v in versions.values()),
        "open": sorted((d.id, d.model_version_id, d.stage, round(d.traffic_share, 9)) for d in open_rows),
        "request": [request.id, request.status, request.subject_fingerprint],
    }
    return hashlib.sha256(audit.canonical_json(state).encode()).hexdigest()[:16]


def _subject_model(session: Session, request: ApprovalRequest) -> str | None:
    if request.subject_type == "model":
        return request.subject_id
    if request.subject_type == "model_version":
        row = session.get(ModelVersion, int(request.subject_id))
        if row is None:
            raise NotFound(f"No model version with id {request.subject_id}.")
        return row.model_name
    return None


def _champion_share(open_rows: list[Deployment], excluding_version: int | None) -> float:
    """What a new full deployment serves: everything the other versions' canaries leave."""
    taken = sum(d.traffic_share for d in open_rows if d.stage == "canary" and d.model_version_id != excluding_version)
    return round(max(0.0, 1.0 - taken), 6)


def _plan_in(session: Session, request: ApprovalRequest) -> Plan:
    kind, payload = request.kind, dict(request.payload or {})
    tail = (
        f"Request #{request.id} is marked executed; the deployment changes, the request and their audit events "
        "are written in one transaction.",
    )
    simple_digest = hashlib.sha256(f"{request.id}:{request.subject_fingerprint}".encode()).hexdigest()[:16]
    if kind == "stop-experiment":
        steps = (f"Experiment {request.subject_id} stops: running -> stopped, from now.", *tail)
        return Plan(request.id, kind, None, steps, True, "", simple_digest)
    if kind == "retrain":
        start, end = str(payload.get("train_from", "?"))[:10], str(payload.get("train_to", "?"))[:10]
        window = f"{start} to {end} (end excluded)"
        base = payload.get("base_version", "?")
        if "base_version" not in payload and str(payload.get("base_version_id", "")).isdigit():
            row = session.get(ModelVersion, int(payload["base_version_id"]))
            base = row.version if row is not None else "?"
        steps = (
            f"A retraining run of {request.subject_id} starts in the background from v{base} "
            f"(its pipeline cloned: same family, preprocessing and parameters), on {window}, "
            + (f"with feedback training set id {payload['dataset_id']}, " if payload.get("dataset_id") else "")
            + f"seed {payload.get('seed', 0)}, trigger {payload.get('trigger', 'manual')}.",
            "The new version is registered as a candidate (nothing serves it) and the request is marked executed in "
            "the same transaction. Promoting it is a separate request.",
        )
        return Plan(request.id, kind, request.subject_id, steps, True, "", simple_digest)
    model_name = _subject_model(session, request)
    versions = {v.id: v for v in session.exec(select(ModelVersion).where(ModelVersion.model_name == model_name)).all()}
    open_rows = registry.open_deployments_in(session, list(versions))
    digest = _state_digest(versions, open_rows, request)
    champion_row = next((d for d in open_rows if d.stage == "full"), None)
    champion = versions[champion_row.model_version_id] if champion_row else None

    def blocked(why: str) -> Plan:
        return Plan(request.id, kind, model_name, (), False, why, digest)

    def others_unchanged(exclude: set[int]) -> list[str]:
        return [
            f"{model_name} v{versions[d.model_version_id].version} keeps its {d.stage} "
            f"({_pct(d.traffic_share)}, deployment #{d.id})."
            for d in open_rows
            if d.id not in exclude
        ]

    if kind in ("promote", "canary"):
        target = versions.get(int(request.subject_id))
        if target is None:
            return blocked(f"Model version {request.subject_id} does not exist.")
        if champion is not None and champion.id == target.id:
            return blocked(f"{model_name} v{target.version} is the champion already.")
        own = [d for d in open_rows if d.model_version_id == target.id]
        if kind == "promote":
            share = payload.get("traffic_share")
            share = float(share) if share is not None else _champion_share(open_rows, target.id)
            steps = [f"{model_name} v{target.version} starts serving full traffic ({_pct(share)}) as the champion."]
            ending = [d for d in open_rows if d.stage == "full"] + own
            for d in ending:
                v = versions[d.model_version_id]
                if d.stage == "full":
                    still = any(o.model_version_id == v.id and o.stage != "full" for o in open_rows)
                    steps.append(
                        f"{model_name} v{v.version} stops serving full traffic (deployment #{d.id}, since "
                        f"{to_utc(d.started_at):%Y-%m-%d %H:%M} UTC) and becomes "
                        f"{'a challenger (it keeps its canary)' if still else 'archived'}."
                    )
                else:
                    steps.append(f"Its {d.stage} ({_pct(d.traffic_share)}, deployment #{d.id}) ends.")
            steps += others_unchanged({d.id for d in ending})
            deploy = {"model_version_id": target.id, "version": target.version, "stage": "full",
                      "traffic_share": share}  # fmt: skip
            return Plan(request.id, kind, model_name, (*steps, *tail), True, "", digest, deploy,
                        tuple(d.id for d in ending))  # fmt: skip
        stage = str(payload.get("stage") or "canary")
        if stage not in ("canary", "shadow"):
            return blocked(f"A canary request starts a canary or a shadow, not {stage!r}.")
        share = 0.0 if stage == "shadow" else float(payload.get("traffic_share", DEFAULT_CANARY_SHARE))
        if stage == "canary" and not 0.0 < share < 1.0:
            return blocked(f"A canary share must be between 0 and 100%, not {_pct(share)}.")
        if champion is None:
            return blocked(f"{model_name} has no champion: a canary needs one to compare with (promote instead).")
        if stage == "shadow":
            steps = [
                f"{model_name} v{target.version} starts in shadow: 0% of traffic; it scores the same requests and "
                "its scores are recorded, never served."
            ]
        else:
            left = _champion_share(
                [d for d in open_rows if d.model_version_id != target.id]
                + [Deployment(model_version_id=target.id, stage="canary", traffic_share=share)],
                champion.id,
            )
            steps = [
                f"{model_name} v{target.version} starts a canary: {_pct(share)} of traffic, as a challenger.",
                f"The champion v{champion.version} serves the rest ({_pct(left)}).",
            ]
        steps += [f"Its earlier {d.stage} ({_pct(d.traffic_share)}, deployment #{d.id}) ends." for d in own]
        rail = payload.get("guardrail") if isinstance(payload.get("guardrail"), dict) else {}
        drop = float(rail.get("max_drop", DEFAULT_MAX_DROP))  # validated when requested
        steps.append(
            f"Guard rail{'' if rail else ' (default)'}: its {rail.get('metric', 'accuracy')} may be at most {drop:g} "
            "below the champion's on the same requests; a breach raises an alert and proposes a rollback."
        )
        steps += others_unchanged({d.id for d in own})
        deploy = {"model_version_id": target.id, "version": target.version, "stage": stage, "traffic_share": share}
        return Plan(request.id, kind, model_name, (*steps, *tail), True, "", digest, deploy, tuple(d.id for d in own))

    if kind == "rollback":
        end_id = payload.get("end_deployment_id")
        if end_id is not None:
            d = next((o for o in open_rows if o.id == int(end_id)), None)
            if d is None:
                return blocked(f"Deployment #{end_id} is not serving any more.")
            if d.stage == "full":
                return blocked("The champion's deployment is rolled back by going back to an earlier version.")
            v = versions[d.model_version_id]
            steps = [f"{model_name} v{v.version}'s {d.stage} ({_pct(d.traffic_share)}, deployment #{d.id}) ends."]
            if champion is not None:
                steps.append(f"The champion v{champion.version} takes its traffic back.")
            steps += others_unchanged({d.id})
            return Plan(request.id, kind, model_name, (*steps, *tail), True, "", digest, None, (d.id,))
        if payload.get("to_version_id") is not None:
            target = versions.get(int(payload["to_version_id"]))
            if target is None:
                return blocked(f"Model version {payload['to_version_id']} is not a version of {model_name}.")
        else:
            target = registry.previous_champion_in(session, model_name)
            if target is None:
                return blocked(f"{model_name} has no earlier champion to roll back to.")
        if champion is not None and target.id == champion.id:
            return blocked(f"{model_name} v{target.version} is the champion already.")
        own = [d for d in open_rows if d.model_version_id == target.id]
        share = payload.get("traffic_share")
        share = float(share) if share is not None else _champion_share(open_rows, target.id)
        steps = [f"{model_name} goes back to v{target.version}: it serves full traffic ({_pct(share)}) as champion."]
        ending = [d for d in open_rows if d.stage == "full"] + own
        for d in ending:
            v = versions[d.model_version_id]
            if d.stage == "full":
                still = any(o.model_version_id == v.id and o.stage != "full" for o in open_rows)
                steps.append(
                    f"v{v.version} stops serving (deployment #{d.id}) and becomes "
                    f"{'a challenger' if still else 'archived'}."
                )
            else:
                steps.append(f"v{v.version}'s {d.stage} (deployment #{d.id}) ends: it serves full traffic instead.")
        steps += others_unchanged({d.id for d in ending})
        steps.append("No moment without a champion: the switch is a single commit.")
        deploy = {"model_version_id": target.id, "version": target.version, "stage": "full", "traffic_share": share}
        return Plan(request.id, kind, model_name, (*steps, *tail), True, "", digest, deploy,
                    tuple(d.id for d in ending))  # fmt: skip
    return blocked(f"Requests of kind {kind} are not executed here.")


def plan(engine: Engine, request_id: int) -> Plan:
    """What executing the request would do now (read only)."""
    with read_session(engine) as session:
        row = session.get(ApprovalRequest, request_id)
        if row is None:
            raise NotFound(f"No approval request #{request_id}.")
        return _plan_in(session, row)


# --- doing it ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    request: ApprovalRequest
    plan: Plan
    deployment: Deployment | None
    routing_file: Path | None

    def summary(self) -> str:
        what = self.plan.steps[0] if self.plan.steps else "done"
        return f"Request #{self.request.id} executed: {what}"


def _lock_subject(session: Session, request: ApprovalRequest) -> None:
    model_name = _subject_model(session, request)
    if model_name is not None:
        registry.lock_model(session, model_name)


def execute(engine: Engine, actor: Actor, request_id: int, expected_digest: str | None = None) -> Execution:
    """Execute an approved request (promote, canary/shadow, rollback, stop-experiment) atomically.

    expected_digest: the Plan.digest the user confirmed; when the state changed since, nothing
    happens (Conflict) and the confirmation dialog shows the new plan."""
    require(actor, Role.approver, "execute approved changes")
    current = approvals.get_request(engine, request_id).request
    if current.kind == "retrain":
        raise InvalidInput("A retrain request runs a training job: start it from the Approvals or Models page.")
    if current.kind == "stop-experiment":
        from services.experiments import lifecycle as experiments

        confirmed = plan(engine, request_id)
        experiments.stop_experiment(engine, actor, current.subject_id, request_id, current.comment)
        return Execution(approvals.get_request(engine, request_id).request, confirmed, None, None)
    if approvals.refresh(engine, request_id):
        raise Conflict(
            f"The subject of request #{request_id} changed after it was approved, so its approvals were reset. "
            "The approvers need to look again."
        )
    with write_session(engine) as session:
        row = approvals.lock_for_execution(session, request_id, EXECUTABLE_KINDS, _lock_subject)
        p = _plan_in(session, row)
        if expected_digest is not None and p.digest != expected_digest:
            raise Conflict("What this request would do changed since you confirmed it: review the new plan.")
        if not p.executable:
            raise Conflict(f"Request #{row.id} cannot be executed now: {p.blocker}")
        deployment = None
        reason = f"Request #{row.id} ({row.kind}), approved: {row.comment}"[:2000]
        if p.deploy is not None:
            deployment = registry.deploy_in_session(
                session, actor, p.deploy["model_version_id"], p.deploy["stage"], p.deploy["traffic_share"],
                reason=reason, approval_request_id=row.id,
            )  # fmt: skip
        else:
            for deployment_id in p.end_deployment_ids:
                registry.end_in_session(session, actor, deployment_id, reason=reason, approval_request_id=row.id)
        result = {
            "steps": list(p.steps),
            "deployment_id": deployment.id if deployment else None,
            "ended_deployment_ids": list(p.end_deployment_ids),
            "model_name": p.model_name,
        }
        approvals.mark_executed(session, actor, row, result)
    routing_file = write_routing_file(engine, p.model_name) if p.model_name else None
    return Execution(row, p, deployment, routing_file)


# --- routing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    model_version_id: int
    version: int
    stage: str
    traffic_share: float
    deployment_id: int
    since: str
    artifact_uri: str | None
    artifact_sha256: str | None


@dataclass(frozen=True)
class Routing:
    model_name: str
    champion: Route | None
    challengers: tuple[Route, ...] = ()  # canaries: they take their share from the champion
    shadows: tuple[Route, ...] = ()  # score every request, serve none
    as_of: str = field(default_factory=lambda: utcnow().isoformat())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (what the routing file holds)."""
        return json.loads(json.dumps(asdict(self)))


def _route(d: Deployment, v: ModelVersion, share: float | None = None) -> Route:
    return Route(v.id, v.version, d.stage, round(d.traffic_share if share is None else share, 6), d.id,
                 to_utc(d.started_at).isoformat(), v.artifact_uri, v.artifact_sha256)  # fmt: skip


def current_routing(engine: Engine, model_name: str) -> Routing:
    with read_session(engine) as session:
        a = registry.aliases_in(session, model_name)
    canaries = [(v, d) for v, d in a.challengers if d.stage == "canary"]
    shadows = [(v, d) for v, d in a.challengers if d.stage == "shadow"]
    champion = None
    if a.champion is not None:
        share = max(0.0, 1.0 - sum(d.traffic_share for _, d in canaries))
        champion = _route(a.champion_deployment, a.champion, share)
    return Routing(model_name, champion, tuple(_route(d, v) for v, d in canaries),
                   tuple(_route(d, v) for v, d in shadows))  # fmt: skip


def routing_dir() -> Path:
    return Path(os.environ.get(ROUTING_DIR_ENV) or DEFAULT_ROUTING_DIR)


def write_routing_file(engine: Engine, model_name: str) -> Path:
    """Write <routing dir>/<model>.json atomically (a reader sees the old file or the new one)."""
    routing = current_routing(engine, model_name)
    folder = routing_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model_name}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(routing.as_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


# --- requests that the Models page makes -------------------------------------------------------------


def request_rollback(
    engine: Engine,
    actor: Actor,
    model_name: str,
    comment: str,
    to_version_id: int | None = None,
    end_deployment_id: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Ask to go back to the previous champion (default), to a named earlier version, or to end a canary."""
    payload: dict[str, Any] = {}
    if end_deployment_id is not None:
        payload["end_deployment_id"] = int(end_deployment_id)
    else:
        target = (
            registry.get_version(engine, to_version_id)
            if to_version_id
            else registry.previous_champion(engine, model_name)
        )
        if target is None:
            raise InvalidInput(f"{model_name} has no earlier champion to roll back to.")
        if target.model_name != model_name:
            raise InvalidInput(f"v{target.version} is a version of {target.model_name}.")
        payload.update(to_version_id=target.id, to_version=target.version)
    return approvals.request_change(engine, actor, "rollback", model_name, comment, payload, evidence)


# --- shadow scores -------------------------------------------------------------------------------


def record_shadow_scores(engine: Engine, actor: Actor, model_name: str, limit: int = 200_000) -> int:
    """Score the requests served since each open shadow deployment started with the shadow version
    (features as recorded) and store the scores once per request. Returns how many were added."""
    require(actor, Role.analyst, "record shadow scores")
    added = 0
    for version, deployment in registry.aliases(engine, model_name).challengers:
        if deployment.stage != "shadow":
            continue
        p, s = Prediction.__table__.c, ShadowScore.__table__.c
        with read_session(engine) as session:
            rows = session.exec(
                select(p.request_id, p.features)
                .where(p.ts >= to_utc(deployment.started_at))
                .where(~sa.exists().where(s.deployment_id == deployment.id, s.request_id == p.request_id))
                .where(p.model_version_id.in_(select(ModelVersion.id).where(ModelVersion.model_name == model_name)))
                .order_by(p.request_id)
                .limit(limit)
            ).all()
        if not rows:
            continue
        model = registry.load_model(engine, version.id)
        x = retraining.feature_frame(pd.Series([r[1] for r in rows]), dict(version.feature_schema or {}))
        scores = model.predict_proba(x)[:, 1]
        now = utcnow()
        with write_session(engine) as session:
            session.execute(
                sa.insert(ShadowScore),
                [
                    {"deployment_id": deployment.id, "model_version_id": version.id, "request_id": r[0],
                     "score": float(sc), "predicted_label": int(sc >= 0.5), "scored_at": now}
                    for r, sc in zip(rows, scores, strict=True)
                ],
            )  # fmt: skip
            audit.record(session, actor, "model.shadow_scores", "deployment", deployment.id,
                         {"model_name": model_name, "version": version.version, "scores": len(rows)})  # fmt: skip
        added += len(rows)
    return added


# --- guard rails -------------------------------------------------------------------------------------

GUARDRAIL_METRICS = ("accuracy", "roc_auc")  # both: higher is better
DEFAULT_MAX_DROP = 0.02
GUARDRAIL_RULE_PREFIX = "Guard rail (rollout): "


def guardrail_condition(max_drop: float, metric: str = "accuracy") -> dict[str, Any]:
    """The guard-rail condition a canary/shadow request carries in its payload ("guardrail"): the stage
    breaches when its `metric` (accuracy or roc_auc) is more than `max_drop` below the champion's over
    the same period (a canary: the requests each served; a shadow: the same requests, scored by both)."""
    if metric not in GUARDRAIL_METRICS:
        raise InvalidInput(f"Guard rails watch {', '.join(GUARDRAIL_METRICS)}, not {metric!r}.")
    try:
        drop = float(max_drop)
    except (TypeError, ValueError):
        raise InvalidInput("The guard rail's tolerance is a number (e.g. 0.02).") from None
    if not 0.0 <= drop <= 1.0:
        raise InvalidInput("The guard rail's tolerance is between 0 and 1.")
    return {"metric": metric, "max_drop": drop}


@dataclass(frozen=True)
class GuardrailCheck:
    deployment_id: int
    version: int
    stage: str
    metric: str
    challenger: float | None
    champion: float | None
    rows: tuple[int, int]  # labelled rows behind each number
    max_drop: float
    breached: bool
    enough_data: bool
    request_id: int | None  # the rollback request proposed on a breach
    alert_id: int | None = None  # the alert raised on a breach
    source: str = "default"  # where the condition comes from: "stage" (its request) or "default"

    def message(self) -> str:
        if not self.enough_data:
            return f"v{self.version} ({self.stage}): not enough labelled rows yet ({self.rows[0]:,}/{self.rows[1]:,})."
        if self.challenger is None or self.champion is None:
            return f"v{self.version} ({self.stage}): {self.metric} is undefined (one class only) on these rows."
        verdict = "BREACHED" if self.breached else "ok"
        extra = ""
        if self.breached:
            extra = (f" Alert #{self.alert_id} raised" if self.alert_id else "") + (
                f"; rollback proposed as request #{self.request_id}." if self.request_id else ""
            )
        return (
            f"v{self.version} ({self.stage}): {self.metric} {self.challenger:.3f} vs champion {self.champion:.3f} "
            f"(may be at most {self.max_drop:g} worse): {verdict}.{extra}"
        )


def stage_guardrail(engine: Engine, d: Deployment, default_drop: float = DEFAULT_MAX_DROP) -> tuple[str, float, str]:
    """(metric, tolerance, "stage" or "default"): the guard rail a canary or shadow is checked against."""
    return _stage_condition(engine, d, default_drop)


def _stage_condition(engine: Engine, d: Deployment, default_drop: float) -> tuple[str, float, str]:
    """The guard rail of a stage: the one its approval request set, else accuracy with the default."""
    if d.approval_request_id is not None:
        payload = approvals.get_request(engine, d.approval_request_id).request.payload or {}
        rail = payload.get("guardrail")
        if isinstance(rail, dict) and rail.get("max_drop") is not None:
            metric = str(rail.get("metric") or "accuracy")
            return (metric if metric in GUARDRAIL_METRICS else "accuracy"), float(rail["max_drop"]), "stage"
    return "accuracy", float(default_drop), "default"


def _metric(metric: str, rows: list) -> float | None:
    """rows: (predicted label, actual label, score). None without rows (or one class only, for AUC)."""
    if not rows:
        return None
    predicted, actual, score = (np.asarray(c, dtype=np.float64) for c in zip(*rows, strict=True))
    if metric == "accuracy":
        return float(np.mean(predicted == actual))
    if np.unique(actual).size < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(actual, score))


def guardrail_rule_name(model_name: str, metric: str) -> str:
    return f"{GUARDRAIL_RULE_PREFIX}{model_name} {metric}"


def guardrail_rule_id(engine: Engine, actor: Actor, model_name: str, metric: str = "accuracy") -> int:
    """The alert rule that a model's guard-rail alerts on `metric` belong to, created once through
    services.monitoring.alerts.

    It is disabled and its condition (metric < 0) can never hold, so the monitoring evaluation never
    opens an alert on it: only a guard-rail breach does (check_guardrails)."""
    from services.monitoring import alerts

    name = guardrail_rule_name(model_name, metric)
    for rule in alerts.list_rules(engine, model_name):
        if rule.name == name:
            return int(rule.id)
    rule = alerts.create_rule(engine, actor, name=name, model_name=model_name, metric=metric, threshold=0.0,
                              comparison="<", window="7d", severity="critical")  # fmt: skip
    alerts.set_rule_enabled(engine, actor, rule.id, False)
    return int(rule.id)


def _raise_alert(
    session: Session, actor: Actor, rule_id: int, version: ModelVersion, value: float, since: datetime,
    now: datetime, evidence: dict[str, Any],
) -> int:  # fmt: skip
    """Open the guard-rail alert of a version (or return the one still unresolved), audited as alerts are.

    services.monitoring.alerts has no public function that opens an alert without evaluating a monitoring rule,
    so the row is written here, in the shape services.monitoring.alerts reads (its lifecycle functions,
    acknowledge and resolve, and the Monitoring page's alert list work on it unchanged)."""
    existing = session.exec(
        select(Alert.id).where(
            Alert.rule_id == rule_id, Alert.model_version_id == version.id, Alert.state != "resolved"
        )
    ).first()
    if existing is not None:
        return int(existing)
    alert = Alert(rule_id=rule_id, model_version_id=version.id, state="open", value=value, window_start=since,
                  window_end=now, evidence=evidence)  # fmt: skip
    session.add(alert)
    session.flush()
    audit.record(session, actor, "alert.open", "alert", alert.id, evidence)
    return int(alert.id)


def check_guardrails(
    engine: Engine, actor: Actor, model_name: str, max_drop: float = DEFAULT_MAX_DROP, min_rows: int = 200,
    propose: bool = True,
) -> list[GuardrailCheck]:  # fmt: skip
    """The guard-rail metric (accuracy or ROC AUC) of each open canary (on the requests it served) or
    shadow (on its recorded scores) against the champion's over the same period. Each stage's condition
    is the one its request set (payload "guardrail", see guardrail_condition), else accuracy and
    `max_drop`. A breach raises an alert (critical,
    on the stage's version) and proposes a rollback of that stage (an approval request by the checker,
    with the numbers as evidence) unless one is open already; the breach, the alert and their audit
    events are written together."""
    require(actor, Role.analyst, "check guard rails")
    a = registry.aliases(engine, model_name)
    if a.champion is None:
        return []
    out = []
    for version, d in a.challengers:
        since = to_utc(d.started_at)
        metric, drop, source = _stage_condition(engine, d, max_drop)
        with read_session(engine) as session:
            p, o = Prediction.__table__.c, Outcome.__table__.c
            base = (
                select(p.predicted_label, o.actual_label, p.score)
                .join(Outcome, o.request_id == p.request_id)
                .where(p.ts >= since)
            )
            champ = session.exec(base.where(p.model_version_id == a.champion.id)).all()
            if d.stage == "shadow":
                s = ShadowScore.__table__.c
                chall = session.exec(
                    select(s.predicted_label, o.actual_label, s.score)
                    .join(Outcome, o.request_id == s.request_id)
                    .where(s.deployment_id == d.id)
                ).all()
            else:
                chall = session.exec(base.where(p.model_version_id == version.id)).all()
        acc = [_metric(metric, list(rows)) for rows in (chall, champ)]
        enough = len(chall) >= min_rows and len(champ) >= min_rows
        breached = bool(enough and acc[0] is not None and acc[1] is not None and acc[0] < acc[1] - drop)
        request_id = alert_id = None
        if breached and propose:
            now = utcnow()
            evidence = {"kind": "guardrail", "metric": metric, "challenger": acc[0], "champion": acc[1],
                        "rows": [len(chall), len(champ)], "max_drop": drop, "condition_from": source,
                        "deployment_id": d.id, "stage": d.stage, "since": since.isoformat()}  # fmt: skip
            open_ = [r for r in approvals.list_requests(engine) if r.kind == "rollback" and r.subject_id == model_name
                     and r.status in approvals.OPEN_STATUSES]  # fmt: skip
            if open_:
                request_id = open_[0].id
            else:
                request_id = request_rollback(
                    engine, actor, model_name,
                    f"Guard rail breached: v{version.version} ({d.stage}) {metric} {acc[0]:.3f} vs champion "
                    f"{acc[1]:.3f}, more than {drop:g} worse. Proposed automatically.",
                    end_deployment_id=d.id, evidence=evidence,
                ).id  # fmt: skip
            rule_id = guardrail_rule_id(engine, actor, model_name, metric)
            alert_evidence = {
                **evidence, "rule": guardrail_rule_name(model_name, metric), "model": model_name,
                "model_version": version.version, "model_version_id": version.id, "value": acc[0],
                "comparison": "<", "threshold": round(acc[1] - drop, 6), "cohort": None,
                "window": {"start": since.date().isoformat(), "end": now.date().isoformat()},
                "rollback_request_id": request_id,
            }  # fmt: skip
            with write_session(engine) as session:
                alert_id = _raise_alert(session, actor, rule_id, version, acc[0], since, now, alert_evidence)
                audit.record(session, actor, "rollout.guardrail_breach", "deployment", d.id,
                             {"model_name": model_name, "version": version.version, "metric": metric,
                              "challenger": acc[0],
                              "champion": acc[1], "max_drop": drop, "rollback_request_id": request_id,
                              "alert_id": alert_id})  # fmt: skip
        out.append(GuardrailCheck(d.id, version.version, d.stage, metric, acc[0], acc[1],
                                  (len(chall), len(champ)), drop, breached, enough, request_id, alert_id,
                                  source))  # fmt: skip
    return out


def history_with_versions(engine: Engine, model_name: str) -> list[tuple[Deployment, ModelVersion]]:
    """The deployment history (oldest first) with each row's version: what the timeline draws."""
    with read_session(engine) as session:
        return list(
            session.exec(
                select(Deployment, ModelVersion)
                .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
                .where(ModelVersion.model_name == model_name)
                .order_by(Deployment.started_at, col(Deployment.id))
            ).all()
        )
