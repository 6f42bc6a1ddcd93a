"""Experiments: register a design (hypothesis, variants and allocation, metrics, MDE, alpha, power,
planned sample, stopping rule), start it, amend it on the record, stop it through an approved request,
and conclude it with a decision. Exposures and metric observations come in through services.ingest;
reading the results is services.experiments.readout.

Status: draft -> running -> stopped -> concluded (running -> concluded directly too; a stopped
experiment may be resumed). Times may be given explicitly (the demo loader replays a past history);
otherwise they are now.

Pre-registration: a draft can be edited freely (`update_draft`). Once started, the design is frozen:
an edit is refused, and the only way to change it is `amend_experiment` with a reason, which the
audit log records with the design before and after.

Stopping goes through the four-eyes approvals (kind "stop-experiment", subject the experiment key):
`request_stop` files the request with the readout as evidence; the governance executor executes an
approved one (services/experiments/requests.py: experiment stopped, request executed, both audited,
in one transaction).

Roles: reading is open to every signed-in user; designing, registering, starting, amending,
requesting a stop and concluding need the analyst role; executing an approved stop needs the approver
role (the kind's, the same on every page and in the shell).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core import audit
from services.core.audit import AuditFilter
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_experiments import Experiment
from services.core.schema_governance import ApprovalRequest
from services.core.timeutil import to_utc, utcnow
from services.experiments.validation import (  # noqa: F401  (re-exported: the design's vocabulary)
    BAD_DIRECTIONS,
    DESIGN_FIELDS,
    METRIC_TYPES,
    STOPPING_RULES,
    check_changes,
    check_model_versions,
)
from services.governance import approvals, executor

STATUSES = ("draft", "running", "stopped", "concluded")
OUTCOMES = ("ship", "do-not-ship", "iterate")
OUTCOME_ALIASES = {"win": "ship", "lose": "do-not-ship", "inconclusive": "iterate", "do not ship": "do-not-ship"}
TRANSITIONS = {
    "draft": ("running",),
    "running": ("stopped", "concluded"),
    "stopped": ("running", "concluded"),
    "concluded": (),
}
STOP_KIND = "stop-experiment"
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")
MAX_REASON = 2000


def find_in(session: Session, ref: str | int, lock: bool = False) -> Experiment:
    """By id (int) or key (str)."""
    column = Experiment.id if isinstance(ref, int) and not isinstance(ref, bool) else Experiment.key
    query = select(Experiment).where(column == ref)
    if lock:
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None:
        raise NotFound(f"No experiment with {'id' if column is Experiment.id else 'key'} {ref}.")
    return row


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def snapshot(row: Experiment) -> dict[str, Any]:
    return {
        "key": row.key,
        "status": row.status,
        "variants": row.variants,
        "primary_metric": row.primary_metric,
        "start_at": row.start_at.isoformat() if row.start_at else None,
        "end_at": row.end_at.isoformat() if row.end_at else None,
    }


def design_of(row: Experiment) -> dict[str, Any]:
    """The design fields as plain values (what update_draft/amend_experiment compare)."""
    return {name: _plain(getattr(row, name)) for name in DESIGN_FIELDS}


def _apply(row: Experiment, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Set the changed fields; (before, after) of the fields whose value actually changed."""
    before, after = {}, {}
    for name, value in changes.items():
        old = getattr(row, name)
        same = (to_utc(old) if isinstance(old, datetime) else old) == value
        if not same:
            before[name], after[name] = _plain(old), _plain(value)
            setattr(row, name, value)
    return before, after


def _frozen_message(row: Experiment) -> str:
    since = f" since {to_utc(row.start_at):%Y-%m-%d %H:%M} UTC" if row.start_at else ""
    return (
        f"Experiment {row.key} is {row.status}{since}: its design is frozen (pre-registration). "
        "A change now is an amendment: record it with its reason (amend)."
    )


# --- writing ---------------------------------------------------------------------------------------


def register_experiment(
    engine: Engine,
    actor: Actor,
    key: str,
    name: str,
    hypothesis: str,
    variants: Sequence[dict[str, Any]],
    primary_metric: str,
    secondary_metrics: Sequence[str] = (),
    guardrail_metrics: Sequence[Any] = (),
    metric_type: str = "conversion",
    mde: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    planned_sample_size: int | None = None,
    stopping_rule: str = "fixed",
    start_at: datetime | None = None,
    *,
    mde_relative: bool = True,
    design: Mapping[str, Any] | None = None,
) -> Experiment:
    """A new experiment in status draft. `variants`: [{key, model_version_id or None, allocation}]
    (allocations add up to 1; the variant called "control", or else the first, is the control);
    guardrails: names or {metric, bad_direction: increase | decrease}; planned_sample_size is per
    arm; start_at is the planned start (start_experiment starts it); `design` keeps the design
    screen's inputs (baseline, sd, daily traffic...) with the registration."""
    require(actor, Role.analyst, "register experiments")
    key = (key or "").strip()
    if not KEY_PATTERN.match(key):
        raise InvalidInput(
            f"Experiment key {key!r} is not valid: lower-case letters, digits, '.', '_' or '-' (at most 200)."
        )
    fields = check_changes(
        {
            "name": name or key, "hypothesis": hypothesis, "variants": variants, "primary_metric": primary_metric,
            "secondary_metrics": secondary_metrics, "guardrail_metrics": guardrail_metrics,
            "metric_type": metric_type, "mde": mde, "mde_relative": mde_relative, "alpha": alpha, "power": power,
            "planned_sample_size": planned_sample_size, "stopping_rule": stopping_rule, "start_at": start_at,
            "design": design,
        }
    )  # fmt: skip
    with write_session(engine) as session:
        if session.exec(select(Experiment.id).where(Experiment.key == key)).first() is not None:
            raise Conflict(f"An experiment with key {key} already exists.")
        check_model_versions(session, fields["variants"])
        row = Experiment(key=key, status="draft", created_by=actor.label, **fields)
        session.add(row)
        try:
            session.flush()
        except sa.exc.IntegrityError:
            raise Conflict(f"An experiment with key {key} already exists.") from None
        audit.record(
            session,
            actor,
            "experiment.register",
            "experiment",
            row.id,
            {**snapshot(row), **{k: v for k, v in design_of(row).items() if k not in ("variants", "primary_metric")}},
        )
        return row


def update_draft(engine: Engine, actor: Actor, ref: str | int, changes: Mapping[str, Any]) -> Experiment:
    """Edit the design of a draft. Refused once the experiment has started (use amend_experiment)."""
    require(actor, Role.analyst, "edit experiment designs")
    clean = check_changes(changes)
    with write_session(engine) as session:
        row = find_in(session, ref, lock=True)
        if row.status != "draft":
            raise Conflict(_frozen_message(row))
        if "variants" in clean:
            check_model_versions(session, clean["variants"])
        before, after = _apply(row, clean)
        if not after:
            raise InvalidInput("Nothing changed: the draft already has these values.")
        session.add(row)
        audit.record(session, actor, "experiment.edit", "experiment", row.id,
                     {"key": row.key, "before": before, "after": after})  # fmt: skip
        return row


def amend_experiment(
    engine: Engine, actor: Actor, ref: str | int, changes: Mapping[str, Any], reason: str
) -> Experiment:
    """A deliberate change to a started (running or stopped) experiment's design, on the record: the
    audit event keeps the reason and the fields before and after. Variants may change their
    allocation only (not their keys or model versions): the units already exposed stay valid."""
    require(actor, Role.analyst, "amend experiments")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("An amendment needs its reason: say why the pre-registered design changes.")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"The reason is limited to {MAX_REASON:,} characters.")
    clean = check_changes(changes)
    with write_session(engine) as session:
        row = find_in(session, ref, lock=True)
        if row.status == "draft":
            raise InvalidInput(
                f"Experiment {row.key} is a draft: edit its design directly; amendments are for started experiments."
            )
        if row.status == "concluded":
            raise Conflict(f"Experiment {row.key} is concluded: its record can no longer change.")
        if "variants" in clean:
            old = [(v["key"], v.get("model_version_id")) for v in row.variants or ()]
            new = [(v["key"], v.get("model_version_id")) for v in clean["variants"]]
            if old != new:
                raise InvalidInput(
                    "An amendment can change the variants' allocation only, not their keys or model versions: "
                    "units were already exposed to them. Conclude this experiment and register a new one instead."
                )
        if "start_at" in clean:
            raise InvalidInput(
                "The start time of a started experiment is a fact, not a design choice: it cannot be amended."
            )
        before, after = _apply(row, clean)
        if not after:
            raise InvalidInput("Nothing to amend: the experiment already has these values.")
        session.add(row)
        audit.record(
            session,
            actor,
            "experiment.amend",
            "experiment",
            row.id,
            {"key": row.key, "status": row.status, "reason": reason, "before": before, "after": after},
        )
        return row


def set_status(
    engine: Engine, actor: Actor, experiment_id: int | str, status: str, at: datetime | None = None, comment: str = ""
) -> Experiment:
    """Start (draft -> running) or resume (stopped -> running) an experiment. Stopping goes through an
    approved request (services.governance.executor); concluding through conclude()."""
    require(actor, Role.analyst, "change the status of experiments")
    if status == "stopped":
        raise InvalidInput(
            "Stopping an experiment goes through an approval request: propose the stop, and execute it once approved."
        )
    if status != "running":
        raise InvalidInput("The status can be set to running; use conclude() to conclude.")
    when = to_utc(at) if at else utcnow()
    with write_session(engine) as session:
        row = find_in(session, experiment_id, lock=True)
        if status not in TRANSITIONS[row.status]:
            raise Conflict(f"Experiment {row.key} is {row.status}; it cannot become {status}.")
        before = row.status
        if before == "stopped" and not (comment or "").strip():
            raise InvalidInput("Resuming a stopped experiment needs a comment: why is it safe to continue?")
        if before == "draft":
            if not row.variants or not row.primary_metric:
                raise InvalidInput("An experiment needs its variants and a primary metric before it starts.")
            row.start_at = when
        row.end_at = None
        row.status = status
        session.add(row)
        audit.record(
            session,
            actor,
            "experiment.status",
            "experiment",
            row.id,
            {**snapshot(row), "from": before, "to": status, "comment": comment, "design": design_of(row)},
        )
        return row


def start_experiment(engine: Engine, actor: Actor, ref: str | int, at: datetime | None = None) -> Experiment:
    """draft -> running; from here on the design is frozen (pre-registration)."""
    return set_status(engine, actor, ref, "running", at=at)


def request_stop(
    engine: Engine, actor: Actor, ref: str | int, comment: str, evidence: Mapping[str, Any] | None = None
) -> ApprovalRequest:
    """Propose to stop a running experiment: an approval request (kind stop-experiment) with the
    readout as evidence. An approver other than the requester decides; the governance executor executes it."""
    require(actor, Role.analyst, "propose to stop experiments")
    exp = find_experiment(engine, ref)
    if exp.status != "running":
        raise Conflict(f"Experiment {exp.key} is {exp.status}: only a running experiment can be stopped.")
    return approvals.request_change(
        engine, actor, STOP_KIND, exp.key, comment, payload={"experiment": exp.key, "action": "stop"},
        evidence=dict(evidence or {}),
    )  # fmt: skip


_RUNNING = (
    "Experiment {key} is running: concluding it stops it, and stopping needs an approved stop request "
    "(four-eyes). Propose the stop; once it is approved, an approver concludes (which executes the stop), "
    "or executes the stop and then an analyst concludes."
)


def _stop_before_concluding(engine: Engine, actor: Actor, ref: str | int) -> None:
    """Concluding a running experiment stops it: through its approved stop request, which the governance
    executor carries out (the approver role; the request is consumed). Only the host's operator (the shell,
    the demo loader) concludes a running experiment directly."""
    exp = find_experiment(engine, ref)
    if exp.status != "running" or actor.operator:
        return
    approved = [r for r in stop_requests(engine, exp.key) if r.status == "approved"]
    if not approved:
        raise Conflict(_RUNNING.format(key=exp.key))
    executor.execute(engine, actor, approved[0].id)


def conclude(
    engine: Engine,
    actor: Actor,
    experiment_id: int | str,
    decision: str,
    at: datetime | None = None,
    *,
    outcome: str | None = None,
) -> Experiment:
    """Record the decision and close the experiment for good. `outcome`: ship, do-not-ship or iterate
    (win / lose / inconclusive are taken as the same); `decision` is the written rationale. A running
    experiment is first stopped through its approved stop request (see _stop_before_concluding)."""
    require(actor, Role.analyst, "conclude experiments")
    decision = (decision or "").strip()
    if not decision:
        raise InvalidInput("Write down the decision (what ships and why).")
    if len(decision) > 2000:
        raise InvalidInput("The decision is limited to 2,000 characters.")
    if outcome is not None:
        outcome = OUTCOME_ALIASES.get(str(outcome).strip().lower(), str(outcome).strip().lower())
        if outcome not in OUTCOMES:
            raise InvalidInput(f"The outcome is one of: {', '.join(OUTCOMES)}.")
    when = to_utc(at) if at else utcnow()
    _stop_before_concluding(engine, actor, experiment_id)
    with write_session(engine) as session:
        row = find_in(session, experiment_id, lock=True)
        if "concluded" not in TRANSITIONS[row.status]:
            raise Conflict(f"Experiment {row.key} is {row.status}; only a running or stopped one can be concluded.")
        if row.status == "running" and not actor.operator:
            raise Conflict(_RUNNING.format(key=row.key))
        before = row.status
        if row.start_at and to_utc(row.start_at) > when:
            raise InvalidInput("An experiment cannot end before it started.")
        row.status, row.decision, row.outcome = "concluded", decision, outcome
        if before == "running" or row.end_at is None:
            row.end_at = when
        session.add(row)
        audit.record(
            session,
            actor,
            "experiment.conclude",
            "experiment",
            row.id,
            {**snapshot(row), "from": before, "outcome": outcome, "decision": decision},
        )
        return row


# --- reading ---------------------------------------------------------------------------------------


def get_experiment(engine: Engine, key: str) -> Experiment:
    with read_session(engine) as session:
        row = session.exec(select(Experiment).where(Experiment.key == key)).first()
    if row is None:
        raise NotFound(f"No experiment with key {key}.")
    return row


def find_experiment(engine: Engine, ref: str | int) -> Experiment:
    """By id (int) or key (str)."""
    with read_session(engine) as session:
        return find_in(session, ref)


def list_experiments(engine: Engine, status: str | None = None) -> list[Experiment]:
    query = select(Experiment).order_by(Experiment.created_at.desc(), Experiment.id.desc())
    if status is not None:
        query = query.where(Experiment.status == status)
    with read_session(engine) as session:
        return list(session.exec(query).all())


def stop_requests(engine: Engine, ref: str | int) -> list[ApprovalRequest]:
    """This experiment's stop requests, newest first."""
    exp = find_experiment(engine, ref)
    with read_session(engine) as session:
        return list(
            session.exec(
                select(ApprovalRequest)
                .where(ApprovalRequest.kind == STOP_KIND, ApprovalRequest.subject_id == exp.key)
                .order_by(ApprovalRequest.id.desc())
            ).all()
        )


def history(engine: Engine, ref: str | int, limit: int = 200):
    """The experiment's audit events (register, edits, status, amendments with reasons, stop,
    conclusion), newest first, as services.core.audit.list_events returns them."""
    exp = find_experiment(engine, ref)
    return audit.list_events(engine, AuditFilter(subject_type="experiment", subject_id=str(exp.id)), limit=limit)
