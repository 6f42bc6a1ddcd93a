"""Rollout plans: what executing an approved promote, canary (or shadow) or rollback request would do,
in plain words, from the state as it is now, with a digest of that state.

    canary   stage "shadow" (0% traffic; the shadow's scores are recorded, never served) or "canary"
             (a share, e.g. 5% or 25%) for a candidate: it becomes a challenger
    promote  "full": the version becomes the champion; the old champion's full deployment ends and
             it is archived (or stays a challenger while it still serves a canary)
    rollback one step back to the previous champion (or to any earlier version named in the payload),
             or the end of one canary (payload end_deployment_id)

The governance executor shows the plan for confirmation, re-plans under the model's lock and refuses
when the digest differs from the one the user confirmed (services/models/requests.py wires these
plans into the request kinds). Guard-rail conditions a canary or shadow request carries are defined
here too (`guardrail_condition`); services/models/guardrails.py checks them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from services.core import audit
from services.core.errors import InvalidInput, NotFound
from services.core.schema_governance import ApprovalRequest
from services.core.schema_models import Deployment, ModelVersion
from services.core.timeutil import to_utc
from services.models.serving import open_deployments_in, previous_champion_in

MODEL_KINDS = ("promote", "canary", "rollback")
DEFAULT_CANARY_SHARE = 0.05
GUARDRAIL_METRICS = ("accuracy", "roc_auc")  # both: higher is better
DEFAULT_MAX_DROP = 0.02


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


def subject_model(session: Session, request: ApprovalRequest) -> str | None:
    """The model a request is about (its subject, or its subject version's model)."""
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


TAIL = (
    "Request #{id} is marked executed; the deployment changes, the request and their audit events are written "
    "in one transaction."
)


@dataclass(frozen=True)
class _State:
    """A model's serving state as a plan reads it."""

    request: ApprovalRequest
    payload: dict[str, Any]
    model_name: str
    versions: dict[int, ModelVersion]
    open_rows: list[Deployment]
    digest: str
    champion: ModelVersion | None

    def blocked(self, why: str) -> Plan:
        return Plan(self.request.id, self.request.kind, self.model_name, (), False, why, self.digest)

    def done(self, steps: list[str], deploy: dict[str, Any] | None, ending: list[Deployment]) -> Plan:
        tail = TAIL.format(id=self.request.id)
        return Plan(self.request.id, self.request.kind, self.model_name, (*steps, tail), True, "", self.digest,
                    deploy, tuple(d.id for d in ending))  # fmt: skip

    def others_unchanged(self, exclude: set[int]) -> list[str]:
        return [
            f"{self.model_name} v{self.versions[d.model_version_id].version} keeps its {d.stage} "
            f"({_pct(d.traffic_share)}, deployment #{d.id})."
            for d in self.open_rows
            if d.id not in exclude
        ]

    def own(self, version_id: int) -> list[Deployment]:
        return [d for d in self.open_rows if d.model_version_id == version_id]

    def still_serves_other_than_full(self, version_id: int) -> bool:
        return any(o.model_version_id == version_id and o.stage != "full" for o in self.open_rows)

    def full_share(self, target_id: int) -> float:
        share = self.payload.get("traffic_share")
        return float(share) if share is not None else _champion_share(self.open_rows, target_id)


def _state(session: Session, request: ApprovalRequest) -> _State:
    model_name = subject_model(session, request)
    versions = {v.id: v for v in session.exec(select(ModelVersion).where(ModelVersion.model_name == model_name)).all()}
    open_rows = open_deployments_in(session, list(versions))
    champion_row = next((d for d in open_rows if d.stage == "full"), None)
    champion = versions[champion_row.model_version_id] if champion_row else None
    digest = _state_digest(versions, open_rows, request)
    return _State(request, dict(request.payload or {}), model_name, versions, open_rows, digest, champion)


def _promote(st: _State, target: ModelVersion) -> Plan:
    share = st.full_share(target.id)
    steps = [f"{st.model_name} v{target.version} starts serving full traffic ({_pct(share)}) as the champion."]
    ending = [d for d in st.open_rows if d.stage == "full"] + st.own(target.id)
    for d in ending:
        v = st.versions[d.model_version_id]
        if d.stage == "full":
            still = st.still_serves_other_than_full(v.id)
            steps.append(
                f"{st.model_name} v{v.version} stops serving full traffic (deployment #{d.id}, since "
                f"{to_utc(d.started_at):%Y-%m-%d %H:%M} UTC) and becomes "
                f"{'a challenger (it keeps its canary)' if still else 'archived'}."
            )
        else:
            steps.append(f"Its {d.stage} ({_pct(d.traffic_share)}, deployment #{d.id}) ends.")
    steps += st.others_unchanged({d.id for d in ending})
    deploy = {"model_version_id": target.id, "version": target.version, "stage": "full", "traffic_share": share}
    return st.done(steps, deploy, ending)


def _canary_steps(st: _State, target: ModelVersion, stage: str, share: float) -> list[str]:
    if stage == "shadow":
        return [
            f"{st.model_name} v{target.version} starts in shadow: 0% of traffic; it scores the same requests and "
            "its scores are recorded, never served."
        ]
    left = _champion_share(
        [d for d in st.open_rows if d.model_version_id != target.id]
        + [Deployment(model_version_id=target.id, stage="canary", traffic_share=share)],
        st.champion.id,
    )
    return [
        f"{st.model_name} v{target.version} starts a canary: {_pct(share)} of traffic, as a challenger.",
        f"The champion v{st.champion.version} serves the rest ({_pct(left)}).",
    ]


def _canary(st: _State, target: ModelVersion) -> Plan:
    stage = str(st.payload.get("stage") or "canary")
    if stage not in ("canary", "shadow"):
        return st.blocked(f"A canary request starts a canary or a shadow, not {stage!r}.")
    share = 0.0 if stage == "shadow" else float(st.payload.get("traffic_share", DEFAULT_CANARY_SHARE))
    if stage == "canary" and not 0.0 < share < 1.0:
        return st.blocked(f"A canary share must be between 0 and 100%, not {_pct(share)}.")
    if st.champion is None:
        return st.blocked(f"{st.model_name} has no champion: a canary needs one to compare with (promote instead).")
    own = st.own(target.id)
    steps = _canary_steps(st, target, stage, share)
    steps += [f"Its earlier {d.stage} ({_pct(d.traffic_share)}, deployment #{d.id}) ends." for d in own]
    rail = st.payload.get("guardrail") if isinstance(st.payload.get("guardrail"), dict) else {}
    drop = float(rail.get("max_drop", DEFAULT_MAX_DROP))  # validated when requested
    steps.append(
        f"Guard rail{'' if rail else ' (default)'}: its {rail.get('metric', 'accuracy')} may be at most {drop:g} "
        "below the champion's on the same requests; a breach raises an alert and proposes a rollback."
    )
    steps += st.others_unchanged({d.id for d in own})
    deploy = {"model_version_id": target.id, "version": target.version, "stage": stage, "traffic_share": share}
    return st.done(steps, deploy, own)


def _end_stage(st: _State, end_id: Any) -> Plan:
    d = next((o for o in st.open_rows if o.id == int(end_id)), None)
    if d is None:
        return st.blocked(f"Deployment #{end_id} is not serving any more.")
    if d.stage == "full":
        return st.blocked("The champion's deployment is rolled back by going back to an earlier version.")
    v = st.versions[d.model_version_id]
    steps = [f"{st.model_name} v{v.version}'s {d.stage} ({_pct(d.traffic_share)}, deployment #{d.id}) ends."]
    if st.champion is not None:
        steps.append(f"The champion v{st.champion.version} takes its traffic back.")
    steps += st.others_unchanged({d.id})
    return st.done(steps, None, [d])


def _rollback_target(session: Session, st: _State) -> ModelVersion | str:
    """The version a rollback goes back to, or why there is none."""
    if st.payload.get("to_version_id") is not None:
        target = st.versions.get(int(st.payload["to_version_id"]))
        if target is None:
            return f"Model version {st.payload['to_version_id']} is not a version of {st.model_name}."
        return target
    target = previous_champion_in(session, st.model_name)
    return target if target is not None else f"{st.model_name} has no earlier champion to roll back to."


def _rollback(session: Session, st: _State) -> Plan:
    if st.payload.get("end_deployment_id") is not None:
        return _end_stage(st, st.payload["end_deployment_id"])
    target = _rollback_target(session, st)
    if isinstance(target, str):
        return st.blocked(target)
    if st.champion is not None and target.id == st.champion.id:
        return st.blocked(f"{st.model_name} v{target.version} is the champion already.")
    share = st.full_share(target.id)
    steps = [f"{st.model_name} goes back to v{target.version}: it serves full traffic ({_pct(share)}) as champion."]
    ending = [d for d in st.open_rows if d.stage == "full"] + st.own(target.id)
    for d in ending:
        v = st.versions[d.model_version_id]
        if d.stage == "full":
            still = st.still_serves_other_than_full(v.id)
            becomes = "a challenger" if still else "archived"
            steps.append(f"v{v.version} stops serving (deployment #{d.id}) and becomes {becomes}.")
        else:
            steps.append(f"v{v.version}'s {d.stage} (deployment #{d.id}) ends: it serves full traffic instead.")
    steps += st.others_unchanged({d.id for d in ending})
    steps.append("No moment without a champion: the switch is a single commit.")
    deploy = {"model_version_id": target.id, "version": target.version, "stage": "full", "traffic_share": share}
    return st.done(steps, deploy, ending)


def plan_in(session: Session, request: ApprovalRequest) -> Plan:
    """The plan of a promote, canary or rollback request (read only, in the caller's session)."""
    if request.kind not in MODEL_KINDS:
        digest = hashlib.sha256(f"{request.id}:{request.subject_fingerprint}".encode()).hexdigest()[:16]
        why = f"Requests of kind {request.kind} are not executed here."
        return Plan(request.id, request.kind, None, (), False, why, digest)
    st = _state(session, request)
    if request.kind == "rollback":
        return _rollback(session, st)
    target = st.versions.get(int(request.subject_id))
    if target is None:
        return st.blocked(f"Model version {request.subject_id} does not exist.")
    if st.champion is not None and st.champion.id == target.id:
        return st.blocked(f"{st.model_name} v{target.version} is the champion already.")
    return _promote(st, target) if request.kind == "promote" else _canary(st, target)
