"""Load the demo scenario (data/scenario.py) into a database, through the same services the app uses:
users, registry (models + skops artifacts + deployment history), experiments, and the import
service for predictions, outcomes, feedback, exposures and metric observations.

    .venv/bin/python -m data.demo [--scale 1.0] [--url sqlite:///data/loopdeck.db]
    python -m services init-db --demo          (the same, on an empty database)

Demo accounts (one per role) are created only here; their passwords are printed and listed in the
README. Everything is recorded in the audit log as actor "demo-loader".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import func, select

from data import scenario as sc
from services.core import users
from services.core.db import read_session
from services.core.errors import Conflict
from services.core.roles import Actor
from services.core.schema_accounts import AuditEvent, User
from services.core.schema_ingest import Prediction
from services.core.schema_models import ModelVersion
from services.experiments import lifecycle as experiments
from services.feedback import themes
from services.ingest import import_frame
from services.models import registry
from services.monitoring.refresh import refresh_monitoring

ACTOR_NAME = "demo-loader"
Echo = Callable[[str], Any]


@dataclass
class DemoSummary:
    scale: float
    counts: dict[str, int] = field(default_factory=dict)  # kind -> rows imported
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds
    model_version_ids: dict[int, int] = field(default_factory=dict)  # version number -> id
    experiment_ids: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    scenario: sc.Scenario | None = field(default=None, repr=False)  # the generator's truth, for tests

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


class _Steps:
    def __init__(self, echo: Echo, summary: DemoSummary):
        self.echo, self.summary = echo, summary

    def run(self, name: str, fn: Callable[[], Any], detail: Callable[[Any], str] | None = None) -> Any:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        self.summary.seconds[name] = round(seconds, 2)
        self.echo(f"  {name:<22} {seconds:6.1f} s  {detail(result) if detail else ''}".rstrip())
        return result


def why_not_fresh(engine: Engine) -> str | None:
    """Why this database must not get the demo on start, or None when it is a fresh install. The demo
    creates accounts whose passwords are published in the README, so it only ever loads into a database
    that has no users, no audit history and no data at all (a team database with accounts but no data
    yet keeps its accounts to itself)."""
    with read_session(engine) as session:
        for model, what in ((User, "accounts"), (AuditEvent, "audit events"), (ModelVersion, "model versions"),
                            (Prediction, "predictions")):  # fmt: skip
            n = session.exec(select(func.count()).select_from(model)).one()
            if n:
                return f"the database already has {n:,} {what}"
    return None


def load_demo(
    engine: Engine, echo: Echo = print, scale: float = 1.0, seed: int = sc.SEED, scenario: sc.Scenario | None = None
) -> DemoSummary:
    """Generate the scenario (or take a built one) and load it into an empty database (Conflict if the
    demo model exists already)."""
    actor = Actor.system(ACTOR_NAME)
    if registry.list_versions(engine, sc.MODEL_NAME):
        raise Conflict(f"The database already has a model named {sc.MODEL_NAME!r}: the demo is not loaded twice.")
    summary = DemoSummary(scale=scenario.scale if scenario is not None else scale)
    steps = _Steps(echo, summary)
    echo(
        f"Loading the Loopdeck demo (scale {summary.scale:g}): churn model, {sc.START:%Y-%m-%d} to "
        f"{sc.NOW - timedelta(days=1):%Y-%m-%d} ..."
    )
    s: sc.Scenario = steps.run(
        "generate + train",
        lambda: scenario if scenario is not None else sc.build_scenario(scale, seed),
        lambda s: (
            f"{len(s.requests):,} requests, models v1 AUC {s.models[0].metrics['roc_auc']}, "
            f"v2 AUC {s.models[1].metrics['roc_auc']}"
        ),
    )
    summary.facts, summary.scenario = s.facts, s

    def add_users() -> int:
        for u in s.users:
            users.add_user(engine, actor, u.email, u.role, u.password, name=u.name)
        return len(s.users)

    steps.run("users", add_users, lambda n: f"{n} demo accounts")

    def register_models() -> dict[int, int]:
        ids: dict[int, int] = {}
        for m in s.models:
            row = registry.register_model_version(
                engine,
                actor,
                sc.MODEL_NAME,
                m.estimator,
                feature_schema=m.feature_schema,
                params=m.params,
                metrics=m.metrics,
                training_data=m.training_data,
                model_card=m.model_card,
                parent_id=ids.get(m.parent_version) if m.parent_version else None,
                trigger=m.trigger,
                created_at=m.trained_at,
            )
            ids[m.version] = row.id
        for d in s.deployments:
            registry.record_deployment(
                engine, actor, ids[d.version], d.stage, d.traffic_share, started_at=d.started_at, reason=d.reason
            )
        return ids

    summary.model_version_ids = steps.run(
        "models + deployments",
        register_models,
        lambda ids: f"{len(ids)} versions (skops), {len(s.deployments)} deployments",
    )

    def register_experiments() -> dict[str, int]:
        ids = {}
        for e in s.experiments:
            variants = [
                {
                    "key": v["key"],
                    "allocation": v["allocation"],
                    "model_version_id": summary.model_version_ids[v["model_version"]] if v["model_version"] else None,
                }
                for v in e.variants
            ]
            row = experiments.register_experiment(
                engine,
                actor,
                e.key,
                e.name,
                e.hypothesis,
                variants,
                e.primary_metric,
                e.secondary_metrics,
                e.guardrail_metrics,
                e.metric_type,
                e.mde,
                e.alpha,
                e.power,
                e.planned_sample_size,
                e.stopping_rule,
                e.start_at,
            )
            experiments.set_status(engine, actor, row.id, "running", at=e.start_at)
            ids[e.key] = row.id
        return ids

    summary.experiment_ids = steps.run("experiments", register_experiments, lambda ids: ", ".join(ids))

    for kind, frame in (
        ("predictions", s.predictions_frame()),
        ("outcomes", s.outcomes_frame()),
        ("feedback", s.feedback_frame()),
        ("exposures", s.exposures_frame()),
        ("metrics", s.metrics_frame()),
    ):
        result = steps.run(
            f"import {kind}",
            lambda kind=kind, frame=frame: import_frame(engine, actor, kind, frame, f"demo-{kind}"),
            lambda r: f"{r.new:,} rows" + (f", {r.redactions} redactions" if r.redactions else ""),
        )
        summary.counts[kind] = result.new

    def conclude() -> int:
        done = 0
        for e in s.experiments:
            if e.status == "concluded":
                experiments.conclude(engine, actor, summary.experiment_ids[e.key], e.decision or "", at=e.end_at)
                done += 1
        return done

    steps.run("conclude experiments", conclude, lambda n: f"{n} concluded")
    # The analysts' first step on the queue: group the feedback into themes.
    steps.run(
        "feedback themes",
        lambda: themes.run_clustering(engine, actor, n_themes=len(sc.themes.THEMES)),
        lambda r: f"{len(r.themes)} themes, {r.duplicate_items} near-duplicates",
    )
    # Build the monitoring day blocks now, so the first Overview and Monitoring views show the story
    # (drift, accuracy by week) instead of asking for a refresh.
    steps.run("monitoring blocks", lambda: refresh_monitoring(engine), lambda r: r.summary())
    _report(echo, s, summary)
    return summary


def _report(echo: Echo, s: sc.Scenario, summary: DemoSummary) -> None:
    acc = s.facts["accuracy"]
    echo(f"Demo loaded in {summary.total_seconds:.1f} s.")
    echo(
        f"  The story: mobile app 5.0 on {sc.day_start(sc.RELEASE_DAY):%Y-%m-%d}; accuracy on mobile "
        f"{acc['mobile_before']:.1%} before -> {acc['mobile_after']:.1%} after (web {acc['web_before']:.1%} -> "
        f"{acc['web_after']:.1%})."
    )
    echo("  Demo accounts (sign in with these; change or disable them before real use):")
    for u in s.users:
        echo(f"    {u.role:<9} {u.email:<26} {u.password}")


def main(argv: list[str] | None = None) -> int:
    from services.core.db import database_url, make_engine, migrate

    parser = argparse.ArgumentParser(prog="python -m data.demo", description="Load the Loopdeck demo scenario.")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="share of the full scenario (1.0: 200,000 predictions)"
    )
    parser.add_argument("--url", default=None, help="database URL (default: LOOPDECK_DATABASE_URL or data/loopdeck.db)")
    args = parser.parse_args(argv)
    engine = make_engine(args.url)
    migrate(engine)
    print(f"Database: {(args.url or database_url()).split('@')[-1]}")
    try:
        load_demo(engine, echo=print, scale=args.scale)
    except Conflict as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
