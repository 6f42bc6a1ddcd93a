"""The demo as a timeline of acts, each a call of an ordinary service at its story date (data/demo.py
replays them in date order inside `timeutil.story_time`). The acts: the accounts, the model versions and
their deployments, the experiments, the nightly and weekly imports, the alert rule, the triage sessions
(data/demo_loop.py plans them), the feedback themes, the backlog items with their evidence, the monitoring
blocks, and last the data clock pinned to the story's now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import select

from data import demo_loop as loop
from data import scenario as sc
from services.backlog import items as backlog
from services.backlog.evidence import EvidenceRef
from services.core import clock, settings, users
from services.core.db import read_session
from services.core.roles import Actor
from services.core.schema_feedback import Feedback, Theme
from services.experiments import lifecycle as experiments
from services.feedback import edits, themes
from services.ingest import import_frame
from services.models import registry
from services.monitoring import alerts
from services.monitoring.refresh import refresh_monitoring

# the order of acts at the same moment: what a later act refers to comes first
ORDER = {"users": 0, "models": 1, "experiments": 2, "predictions": 3, "outcomes": 4, "exposures": 5,
         "metrics": 6, "feedback": 7, "rule": 8, "triage": 9, "conclude": 10}  # fmt: skip


@dataclass(frozen=True)
class Act:
    at: datetime
    order: int
    step: str  # what the loader's summary times it as
    run: Callable[[], Any]


@dataclass
class Story:
    engine: Engine
    loader: Actor  # the demo loader: imports, the registry, the experiments
    scenario: sc.Scenario
    summary: Any  # data.demo.DemoSummary (filled as the acts run)
    people: dict[str, Actor] = field(default_factory=dict)  # demo account e-mail -> its actor

    def person(self, email: str) -> Actor:
        return self.people[email]


def timeline(story: Story) -> list[Act]:
    s = story.scenario
    acts = [Act(sc.day_start(-3) + timedelta(hours=9), ORDER["users"], "users", lambda: _add_users(story))]
    acts += _model_acts(story)
    acts += _experiment_acts(story)
    acts += _import_acts(story)
    acts.append(Act(loop.RULE_AT, ORDER["rule"], "alert rule", lambda: _create_rule(story)))
    for plan in loop.triage_plan(s):
        acts.append(Act(plan.at, ORDER["triage"], "triage", lambda plan=plan: _triage(story, plan)))
    acts.append(Act(loop.THEMES_AT, 0, "feedback themes", lambda: _themes(story)))
    acts.append(Act(loop.BACKLOG_AT, 0, "backlog", lambda: _backlog(story)))
    acts.append(Act(loop.STORY_NOW, 0, "monitoring blocks", lambda: refresh_monitoring(story.engine)))
    acts.append(Act(loop.STORY_NOW, 1, "data clock", lambda: _pin_clock(story)))
    return acts


def _add_users(story: Story) -> None:
    for u in story.scenario.users:
        view = users.add_user(story.engine, story.loader, u.email, u.role, u.password, name=u.name)
        story.people[u.email] = users.current_actor(story.engine, view.id)


def _model_acts(story: Story) -> list[Act]:
    s, ids = story.scenario, story.summary.model_version_ids

    def register(m: sc.TrainedModel) -> None:
        row = registry.register_model_version(
            story.engine, story.loader, sc.MODEL_NAME, m.estimator, feature_schema=m.feature_schema,
            params=m.params, metrics=m.metrics, training_data=m.training_data, model_card=m.model_card,
            parent_id=ids.get(m.parent_version) if m.parent_version else None, trigger=m.trigger,
            created_at=m.trained_at,
        )  # fmt: skip
        ids[m.version] = row.id

    def deploy(d: sc.DeploymentSpec) -> None:
        registry.record_deployment(story.engine, story.loader, ids[d.version], d.stage, d.traffic_share,
                                   started_at=d.started_at, reason=d.reason)  # fmt: skip

    acts = [Act(m.trained_at, ORDER["models"], "models + deployments", lambda m=m: register(m)) for m in s.models]
    acts += [Act(d.started_at, ORDER["models"], "models + deployments", lambda d=d: deploy(d)) for d in s.deployments]
    return acts


def _experiment_acts(story: Story) -> list[Act]:
    summary = story.summary

    def start(e: sc.ExperimentSpec) -> None:
        variants = [
            {"key": v["key"], "allocation": v["allocation"],
             "model_version_id": summary.model_version_ids[v["model_version"]] if v["model_version"] else None}
            for v in e.variants
        ]  # fmt: skip
        row = experiments.register_experiment(
            story.engine, story.loader, e.key, e.name, e.hypothesis, variants, e.primary_metric,
            e.secondary_metrics, e.guardrail_metrics, e.metric_type, e.mde, e.alpha, e.power,
            e.planned_sample_size, e.stopping_rule, e.start_at,
        )  # fmt: skip
        experiments.set_status(story.engine, story.loader, row.id, "running", at=e.start_at)
        summary.experiment_ids[e.key] = row.id

    def conclude(e: sc.ExperimentSpec) -> None:
        experiments.conclude(story.engine, story.loader, summary.experiment_ids[e.key], e.decision or "",
                             at=e.end_at, outcome=e.outcome)  # fmt: skip

    specs = story.scenario.experiments
    acts = [Act(e.start_at, ORDER["experiments"], "experiments", lambda e=e: start(e)) for e in specs]
    acts += [
        Act(e.end_at, ORDER["conclude"], "experiments", lambda e=e: conclude(e))
        for e in specs
        if e.status == "concluded" and e.end_at is not None
    ]
    return acts


def _import_acts(story: Story) -> list[Act]:
    """One act per (kind, cut) with rows: feedback nightly (or with its prediction), the rest weekly."""
    s = story.scenario
    acts = []
    for kind in ("predictions", "outcomes", "exposures", "metrics", "feedback"):
        frame = getattr(s, f"{kind}_frame")()
        story.summary.counts[kind] = 0
        cut_of = loop.feedback_cut(s) if kind == "feedback" else loop.import_cut(frame["ts"], loop.WEEKLY_CUTS)
        for cut, part in frame.groupby(cut_of, sort=True):
            part = part.reset_index(drop=True)
            run = lambda kind=kind, part=part: _import(story, kind, part)  # noqa: E731
            acts.append(Act(cut, ORDER[kind], f"import {kind}", run))
    return acts


def _import(story: Story, kind: str, frame: pd.DataFrame) -> None:
    result = import_frame(story.engine, story.loader, kind, frame, f"demo-{kind}")
    story.summary.counts[kind] += result.new


def _create_rule(story: Story) -> None:
    rule = alerts.create_rule(story.engine, story.person(loop.ANALYST), **loop.ALERT_RULE)
    story.summary.facts["alert_rule_id"] = rule.id


def _triage(story: Story, plan: loop.TriageAct) -> None:
    with read_session(story.engine) as session:
        rows = session.exec(
            select(Feedback.feedback_id, Feedback.id, Feedback.version).where(
                Feedback.feedback_id.in_(plan.feedback_ids)
            )
        ).all()
    found = {fid: (pk, version) for fid, pk, version in rows}
    batch = [
        edits.Edit(found[fid][0], found[fid][1], edits.Patch(**patch))
        for fid, patch in zip(plan.feedback_ids, plan.patches, strict=True)
        if fid in found
    ]
    edits.apply_edits(story.engine, story.person(plan.actor), batch)
    story.summary.counts["triaged"] = story.summary.counts.get("triaged", 0) + len(batch)


def _themes(story: Story) -> None:
    result = themes.run_clustering(story.engine, story.person(loop.ANALYST), n_themes=len(sc.themes.THEMES))
    story.summary.facts["themes"] = len(result.themes)


def theme_of(engine: Engine, scenario: sc.Scenario, truth: str) -> int | None:
    """The active theme whose items are mostly of the generator's theme `truth` (None if none is)."""
    true_theme = dict(zip(scenario.feedback["feedback_id"], scenario.feedback["theme"], strict=True))
    with read_session(engine) as session:
        rows = session.exec(
            select(Feedback.feedback_id, Feedback.theme_id)
            .join(Theme, Theme.id == Feedback.theme_id)
            .where(Theme.active)
        ).all()
    frame = pd.DataFrame(rows, columns=["feedback_id", "theme_id"])
    frame["truth"] = frame["feedback_id"].map(true_theme)
    share = frame.assign(hit=frame["truth"] == truth).groupby("theme_id")["hit"].agg(["mean", "sum"])
    share = share[share["mean"] >= 0.5]
    return int(share["sum"].idxmax()) if len(share) else None


def _backlog(story: Story) -> None:
    """The analyst files what the loop found, each item citing its evidence: the mobile alert (with the
    feedback theme and the drift that explain it), the theme of loyal customers flagged as churners, and
    the data-quality fault behind the drift."""
    engine, analyst = story.engine, story.person(loop.ANALYST)
    mobile_theme = theme_of(engine, story.scenario, "mobile_app")
    drift = EvidenceRef(
        "drift", f"{sc.MODEL_NAME}:sessions_per_week", "sessions_per_week drifts on iOS + Android since app 5.0",
        {"cohort": {"platform": list(sc.MOBILE)}, "feature": "sessions_per_week"},
    )  # fmt: skip
    theme_ref = EvidenceRef("theme", str(mobile_theme), "Mobile app feedback theme") if mobile_theme else None
    ids = []
    open_alerts = [v.alert for v in alerts.list_alerts(engine, state="open") if (v.alert.evidence or {}).get("cohort")]
    if open_alerts:  # the one with the most rows: the champion's
        alert = max(open_alerts, key=lambda a: (a.evidence or {}).get("rows") or 0)
        item = alerts.to_backlog(
            engine, analyst, alert.id, title="Mobile accuracy below 80% since app 5.0: retrain on corrected sessions",
            description="The mobile cohort's accuracy dropped after the 5.0 release; users report logouts and "
            "missing sessions, and sessions_per_week drifts on iOS + Android.",
        )  # fmt: skip
        for ref in (theme_ref, drift):
            if ref is not None:
                backlog.add_evidence(engine, analyst, item.id, ref)
        backlog.update_item(engine, analyst, item.id, {"impact": 3.0, "confidence": 0.8, "effort": 2.0})
        ids.append(item.id)
    loyal = theme_of(engine, story.scenario, "false_churn_alert")
    if loyal is not None:
        title = "Loyal customers flagged as churn risk"
        item = themes.create_backlog_item(engine, analyst, title=title, theme_id=loyal)
        backlog.update_item(engine, analyst, item.id, {"impact": 1.0, "confidence": 0.5, "effort": 2.0})
        ids.append(item.id)
    links = [drift] + ([theme_ref] if theme_ref else [])
    item = backlog.create_item(
        engine, analyst, kind="data_quality", title="App 5.0 under-counts mobile sessions (sessions_per_week)",
        description="Fix the session counter in the mobile app, then backfill sessions_per_week.",
        links=links, impact=2.0, confidence=0.8, effort=3.0,
    )  # fmt: skip
    ids.append(item.id)
    story.summary.facts["backlog_item_ids"] = ids


def _pin_clock(story: Story) -> None:
    settings.set_value(story.engine, story.loader, clock.SETTING, loop.STORY_NOW.isoformat())
