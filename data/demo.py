"""Load the demo scenario (data/scenario.py) into a database, through the same services the app uses:
users, registry (models + skops artifacts + deployment history), experiments, and the import
service for predictions, outcomes, feedback, exposures and metric observations.

    .venv/bin/python -m data.demo [--scale 1.0] [--url sqlite:///data/loopdeck.db]
    python -m services init-db --demo          (the same, on an empty database)

The story is replayed in date order (data/demo_acts.py): every act (an import, a deployment, a triage
session, the alert rule, a backlog item) runs at its story date, so what it records carries that date and
the audit chain runs in story order. The team's part (the alert rule, triage, backlog) is planned in
data/demo_loop.py and done as the demo accounts; the data itself is imported as actor "demo-loader".
At the end the data clock (setting clock.data_now) is pinned to the story's now, 2026-10-30 10:00 UTC,
so ages and the feedback SLA read as they did that morning.

Demo accounts (one per role) are created only here; their passwords are printed and listed in the
README.
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

from data import demo_acts
from data import scenario as sc
from services.core.db import read_session
from services.core.errors import Conflict
from services.core.roles import Actor
from services.core.schema_accounts import AuditEvent, User
from services.core.schema_ingest import Prediction
from services.core.schema_models import ModelVersion
from services.core.timeutil import story_time
from services.models import registry

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

    def replay(self, acts: list[demo_acts.Act]) -> None:
        """Run the acts in story order, each at its story date; time and count them per step."""
        seconds: dict[str, float] = {}
        done: dict[str, int] = {}
        for act in sorted(acts, key=lambda a: (a.at, a.order)):
            start = time.perf_counter()
            with story_time(act.at):
                act.run()
            seconds[act.step] = seconds.get(act.step, 0.0) + time.perf_counter() - start
            done[act.step] = done.get(act.step, 0) + 1
        for step, total in seconds.items():
            self.summary.seconds[step] = round(total, 2)
            self.echo(f"  {step:<22} {total:6.1f} s  {done[step]} acts")


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
    """Generate the scenario (or take a built one) and replay it into an empty database in story order
    (Conflict if the demo model exists already): every act runs at its story date (timeutil.story_time),
    so what it records carries that date, and the data clock is pinned to the story's now at the end."""
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
    story = demo_acts.Story(engine, actor, s, summary)
    acts = demo_acts.timeline(story)
    steps.replay(acts)
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
