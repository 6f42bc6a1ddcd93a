"""Backlog items Loopdeck proposes on its own, from open signals that no item covers yet.

Rules (each signal has a stable key; a key someone accepted or dismissed is not proposed again):
- drifted_feature   a feature of a serving champion drifts (Evidently's rule, monitoring's default
                    windows: the version's first 14 days against its last 28)      drift:<model>:<feature>
- growing_negative_theme  a feedback theme that is mostly negative (>= 50% of rated items at 1-2
                    stars) and growing (last 28 days of feedback >= 1.5 x the 28 before, at least 10
                    items)                                                         theme:<id>
- cohort_gap        a cohort of the champion flagged below the rest on accuracy where outcomes are
                    known after the reference window, and not flagged in the reference window
                                                                                   cohort:<model>:<field>=<value>
- open_alert        an open alert not filed to the backlog yet                     alert:<id>

A signal is covered when an item that is not dropped links the same evidence (ref_type, ref_id).
Reading proposals never writes; monitoring results come from monitoring's caches over the blocks
built so far (the Monitoring page refreshes them). Accepting creates the item with its evidence
links (status planned or proposed); dismissing is remembered; both are audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.backlog import items as backlog
from services.backlog.evidence import EvidenceRef
from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, LoopdeckError, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_backlog import BacklogItem, BacklogProposal
from services.core.schema_feedback import Feedback, Theme
from services.core.timeutil import to_utc
from services.feedback import themes
from services.monitoring import alerts, drift_window, performance
from services.monitoring import views as mon

RULES = ("drifted_feature", "growing_negative_theme", "cohort_gap", "open_alert")
THEME_MIN_ITEMS = 10
THEME_GROWTH = 1.5
THEME_NEGATIVE_SHARE = 0.5
THEME_WINDOW_DAYS = 28
COHORT_MIN_LABELLED_DAYS = 3


@dataclass(frozen=True)
class Proposal:
    key: str
    rule: str
    kind: str
    title: str
    why: str  # one sentence: the signal in numbers
    links: tuple[EvidenceRef, ...]
    strength: float  # to order proposals: larger first within a rule
    evidence: dict[str, Any] = field(default_factory=dict)


def _champions(engine: Engine) -> list[mon.VersionInfo]:
    versions = mon.list_versions(engine)
    names = sorted({v.model_name for v in versions if v.has_data})
    out = []
    for name in names:
        pick = mon.default_version([v for v in versions if v.model_name == name])
        if pick is not None:
            out.append(pick)
    return out


def _drift(engine: Engine, info: mon.VersionInfo) -> list[Proposal]:
    reference, current = mon.default_windows(info)
    if current == reference:
        return []
    report = drift_window.drift_report(engine, info.id, reference, current)
    out = []
    for row in report.features:
        if not row.drifted:
            continue
        out.append(
            Proposal(
                key=f"drift:{info.model_name}:{row.column}",
                rule="drifted_feature",
                kind="data_quality",
                title=f"Investigate the drift of {row.column} ({info.model_name})",
                why=(
                    f"{row.column} drifts on {info.label}: {row.method_label} {row.score:.3g} against threshold "
                    f"{row.threshold:g}, {current.label} vs {reference.label}."
                ),  # fmt: skip
                links=(
                    EvidenceRef(
                        "drift",
                        f"{info.model_name}:{row.column}",
                        f"drift of {row.column}",
                        {
                            "model": info.model_name,
                            "model_version_id": info.id,
                            "method": row.method,
                            "score": row.score,
                            "threshold": row.threshold,
                            "reference": reference.as_dict(),
                            "current": current.as_dict(),
                        },
                    ),
                ),  # fmt: skip
                strength=float(row.score if not row.is_p_value else 1 - row.score),
                evidence={"model_version": info.label, "column": row.column, "score": round(row.score, 4)},
            )
        )
    return out


def _cohorts(engine: Engine, info: mon.VersionInfo) -> list[Proposal]:
    reference, _ = mon.default_windows(info)
    last = info.last_labelled_day
    if last is None or last < reference.end + timedelta(days=COHORT_MIN_LABELLED_DAYS):
        return []
    window = mon.Window(reference.end + timedelta(days=1), last)
    report = performance.cohort_report(engine, info.id, window, rank_by="accuracy", reference=reference)
    out = []
    for line in report.lines:
        if not line.new_since_reference or len(line.fields) != 1:
            continue
        fld, value = line.fields[0], str(line.row.cohort[0])
        out.append(
            Proposal(
                key=f"cohort:{info.model_name}:{fld}={value}",
                rule="cohort_gap",
                kind="model_improvement",
                title=f"Fix the accuracy gap on {fld} = {value} ({info.model_name})",
                why=(
                    f"{fld} = {value} is {abs(line.row.gap):.1%} below the rest on accuracy over {window.label} "
                    f"({line.row.n:,} labelled rows); it was not flagged in {reference.label}."
                ),  # fmt: skip
                links=(
                    EvidenceRef(
                        "cohort_gap",
                        f"{info.model_name}:{fld}={value}",
                        f"{fld} = {value} below the rest",
                        {
                            "model": info.model_name,
                            "model_version_id": info.id,
                            "field": fld,
                            "value": value,
                            "gap": line.row.gap,
                            "n": line.row.n,
                            "window": window.as_dict(),
                            "reference_gap": line.reference_gap,
                        },
                    ),
                ),  # fmt: skip
                strength=float(-line.row.gap),
                evidence={"gap": round(line.row.gap, 4), "n": line.row.n},
            )
        )
    return out


def theme_growth(engine: Engine, days: int = THEME_WINDOW_DAYS) -> pd.DataFrame:
    """Per active theme: items in the last `days` days of feedback and in the `days` before, and the
    negative share (ratings 1-2) of its rated items over both windows."""
    with read_session(engine) as session:
        last = session.exec(select(func.max(Feedback.ts))).one()
        if last is None:
            return pd.DataFrame(columns=["id", "label", "recent", "prior", "negative_share"])
        last = to_utc(last)
        cut, start = last - timedelta(days=days), last - timedelta(days=2 * days)
        negative = func.sum(sa.case((Feedback.rating <= themes.NEGATIVE_RATING, 1), else_=0))
        rated = func.sum(sa.case((Feedback.rating.is_not(None), 1), else_=0))
        rows = session.exec(
            select(
                Theme.id, Theme.label,
                func.sum(sa.case((Feedback.ts > cut, 1), else_=0)),
                func.sum(sa.case((Feedback.ts <= cut, 1), else_=0)),
                negative, rated,
            )
            .join(Feedback, Feedback.theme_id == Theme.id)
            .where(Theme.active, Feedback.ts > start)
            .group_by(Theme.id, Theme.label)
        ).all()  # fmt: skip
    frame = pd.DataFrame(rows, columns=["id", "label", "recent", "prior", "negative", "rated"])
    frame["negative_share"] = frame["negative"] / frame["rated"].where(frame["rated"] > 0)
    return frame[["id", "label", "recent", "prior", "negative_share"]]


def _themes(engine: Engine) -> list[Proposal]:
    frame = theme_growth(engine)
    out = []
    for r in frame.itertuples():
        share = float(r.negative_share) if r.negative_share == r.negative_share else None  # NaN: nothing rated
        recent, prior = int(r.recent or 0), int(r.prior or 0)
        if share is None or share < THEME_NEGATIVE_SHARE:
            continue
        if recent < THEME_MIN_ITEMS or recent < THEME_GROWTH * prior:
            continue
        growth = f"{prior} -> {recent}" if prior else f"{recent} new"
        out.append(
            Proposal(
                key=f"theme:{r.id}",
                rule="growing_negative_theme",
                kind="model_improvement",
                title=f"Act on the feedback theme: {r.label}"[:300],
                why=(
                    f"{share:.0%} of its rated feedback is negative and it is growing: {growth} items in the last "
                    f"{THEME_WINDOW_DAYS} days against the {THEME_WINDOW_DAYS} before."
                ),  # fmt: skip
                links=(
                    EvidenceRef(
                        "theme",
                        str(r.id),
                        str(r.label)[:200],
                        {"negative_share": round(share, 3), "recent": recent, "prior": prior},
                    ),
                ),  # fmt: skip
                strength=float(recent - prior),
                evidence={"negative_share": round(share, 3), "recent": recent, "prior": prior},
            )
        )
    return out


def _alerts(engine: Engine) -> list[Proposal]:
    out = []
    for view in alerts.list_alerts(engine, "open"):
        if view.alert.backlog_item_id is not None:
            continue
        out.append(
            Proposal(
                key=f"alert:{view.alert.id}",
                rule="open_alert",
                kind="model_improvement",
                title=f"{view.rule.name}: {view.summary}"[:300],
                why=f"Alert {view.alert.id} ({view.rule.severity}) is open and not on the backlog.",
                links=(
                    EvidenceRef(
                        "alert",
                        str(view.alert.id),
                        view.rule.name[:200],
                        {"severity": view.rule.severity, "value": view.alert.value},
                    ),
                ),  # fmt: skip
                strength={"critical": 3.0, "warning": 2.0}.get(view.rule.severity, 1.0),
                evidence={"alert_id": view.alert.id, "severity": view.rule.severity},
            )
        )
    return out


@dataclass(frozen=True)
class ProposalList:
    proposals: tuple[Proposal, ...]
    problems: tuple[str, ...]  # rules that could not be evaluated, and why (shown, never raised)


def decided_keys(engine: Engine) -> set[str]:
    with read_session(engine) as session:
        decided = set(session.exec(select(BacklogProposal.key)).all())
        from_items = session.exec(select(BacklogItem.proposal_key).where(BacklogItem.proposal_key.is_not(None)))
        return decided | {k for k in from_items.all() if k}


def list_proposals(engine: Engine) -> ProposalList:
    """Open proposals: signals with no item (not dropped) linking them and no decision on their key."""
    found: list[Proposal] = []
    problems: list[str] = []
    for name, fn in (("open alerts", lambda: _alerts(engine)), ("feedback themes", lambda: _themes(engine))):
        try:
            found += fn()
        except LoopdeckError as exc:
            problems.append(f"{name}: {exc}")
    try:
        champions = _champions(engine)
    except LoopdeckError as exc:
        champions, problems = [], [*problems, f"monitoring: {exc}"]
    for info in champions:
        for name, fn in (("drift", _drift), ("cohorts", _cohorts)):
            try:
                found += fn(engine, info)
            except LoopdeckError as exc:
                problems.append(f"{name} of {info.label}: {exc}")
    linked = backlog.linked_refs(engine)
    decided = decided_keys(engine)
    open_ = [
        p for p in found
        if p.key not in decided and not any((ref.ref_type, ref.ref_id) in linked for ref in p.links)
    ]  # fmt: skip
    open_.sort(key=lambda p: (RULES.index(p.rule), -p.strength))
    return ProposalList(tuple(open_), tuple(problems))


def _find(engine: Engine, key: str) -> Proposal:
    for p in list_proposals(engine).proposals:
        if p.key == key:
            return p
    raise NotFound(f"No open proposal {key!r}: it was decided already or its signal is gone. Reload.")


def accept(
    engine: Engine, actor: Actor, key: str, status: str = "planned", owner: str | None = None,
    title: str | None = None, kind: str | None = None,
) -> BacklogItem:  # fmt: skip
    """Turn an open proposal into an item (planned or proposed) carrying its evidence links."""
    require(actor, Role.analyst, "accept backlog proposals")
    if status not in ("planned", "proposed"):
        raise InvalidInput("An accepted proposal becomes a planned or a proposed item.")
    proposal = _find(engine, key)
    try:
        with write_session(engine) as session:
            item = backlog.add_in_session(
                session, actor, kind=kind or proposal.kind, title=title or proposal.title,
                description=proposal.why, source_type=proposal.links[0].ref_type if proposal.links else None,
                source_id=proposal.links[0].ref_id if proposal.links else None, evidence=proposal.evidence,
                links=proposal.links, owner=owner, status=status, proposal_key=proposal.key,
            )  # fmt: skip
            session.add(BacklogProposal(key=proposal.key, rule=proposal.rule, title=proposal.title[:300],
                                        evidence=proposal.evidence, status="accepted", item_id=item.id,
                                        decided_by=actor.label))  # fmt: skip
            session.flush()
            audit.record(session, actor, "backlog.proposal.accept", "backlog_proposal", proposal.key,
                         {"item_id": item.id, "rule": proposal.rule, "status": status})  # fmt: skip
            return item
    except sa.exc.IntegrityError:
        raise Conflict(f"Proposal {key!r} was decided by someone else meanwhile. Reload.") from None


def dismiss(engine: Engine, actor: Actor, key: str, reason: str = "") -> BacklogProposal:
    """Remember that this signal is not worth an item (it is not proposed again); audited."""
    require(actor, Role.analyst, "dismiss backlog proposals")
    proposal = _find(engine, key)
    try:
        with write_session(engine) as session:
            row = BacklogProposal(key=proposal.key, rule=proposal.rule, title=proposal.title[:300],
                                  evidence=proposal.evidence, status="dismissed",
                                  reason=(reason or "").strip()[:2000], decided_by=actor.label)  # fmt: skip
            session.add(row)
            session.flush()
            audit.record(session, actor, "backlog.proposal.dismiss", "backlog_proposal", proposal.key,
                         {"rule": proposal.rule, "title": proposal.title, "reason": row.reason or None})  # fmt: skip
            return row
    except sa.exc.IntegrityError:
        raise Conflict(f"Proposal {key!r} was decided by someone else meanwhile. Reload.") from None


def list_dismissed(engine: Engine) -> list[BacklogProposal]:
    with read_session(engine) as session:
        query = select(BacklogProposal).where(BacklogProposal.status == "dismissed").order_by(BacklogProposal.id.desc())
        return list(session.exec(query).all())


def restore(engine: Engine, actor: Actor, key: str) -> None:
    """Forget a dismissal: the signal is proposed again while it lasts."""
    require(actor, Role.analyst, "restore dismissed proposals")
    with write_session(engine) as session:
        row = session.exec(
            select(BacklogProposal).where(BacklogProposal.key == key, BacklogProposal.status == "dismissed")
        ).first()
        if row is None:
            raise NotFound(f"No dismissed proposal {key!r}.")
        session.delete(row)
        audit.record(session, actor, "backlog.proposal.restore", "backlog_proposal", key, {"rule": row.rule})
