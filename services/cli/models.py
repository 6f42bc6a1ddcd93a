"""Models from the shell (as Actor.cli(), an admin):

    python -m services retrain --model churn --base-version 2 --train-from 2026-08-01 --train-to 2026-10-10
                               [--dataset ID] [--seed 0] [--trigger manual|schedule|alert:ID] [--no-progress]
    python -m services routing [--model churn] [--json]
    python -m services judge --model churn --candidate 3 [--champion 2] [--resamples 1000] [--json]
    python -m services guardrails [--model churn] [--max-drop 0.02] [--min-rows 200]

Dates are UTC days (or ISO timestamps); --train-to is excluded. `retrain` prints progress on a
terminal and the registered version; `routing` prints what production should serve right now (the
same JSON as the routing file written on every change); `judge` prints the verdict and its gates;
`guardrails` (for a schedule) records shadow scores and checks the canaries' and shadows' guard rails.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD) or ISO timestamp") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- retrain ---------------------------------------------------------------------------------------


def configure_retrain(p: argparse.ArgumentParser) -> None:
    p.description = "Fit a candidate version from a base version on a training window (and a feedback dataset)."
    p.add_argument("--model", required=True, help="model name, e.g. churn")
    p.add_argument("--base-version", required=True, type=int, help="version number of the base (its family, params)")
    p.add_argument("--train-from", required=True, type=_when, help="first day of the window (UTC)")
    p.add_argument("--train-to", required=True, type=_when, help="end of the window (UTC, excluded)")
    p.add_argument("--dataset", type=int, default=None, help="id of a feedback training set (corrected labels)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same inputs + seed = same model)")
    p.add_argument("--trigger", default="manual", help="manual, schedule or alert:<alert id>")
    p.add_argument("--no-progress", action="store_true", help="no progress (bar on a terminal, lines otherwise)")


def run_retrain(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.models import registry, retraining

    engine = make_engine()
    show = not args.no_progress and sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=100, unit="%", file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {elapsed}")
    last = [0]

    def progress(fraction: float, message: str) -> None:
        if bar is None:
            if not args.no_progress:  # not a terminal (a schedule, a log): one line per step
                print(f"{fraction:4.0%}  {message}", file=sys.stderr, flush=True)
            return
        step = int(fraction * 100)
        if step > last[0]:
            bar.update(step - last[0])
            last[0] = step
        bar.set_description_str(message[:50], refresh=True)

    try:
        base = registry.find_version(engine, args.model, args.base_version)
        result = retraining.retrain(
            engine, Actor.cli(), base.id, args.train_from, args.train_to, args.dataset, seed=args.seed,
            trigger=args.trigger, progress=progress,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
        engine.dispose()
    print(result.summary())
    return 0


# --- routing ---------------------------------------------------------------------------------------


def configure_routing(p: argparse.ArgumentParser) -> None:
    p.description = "What production should serve right now: champion, challengers and their shares."
    p.add_argument("--model", default=None, help="one model (default: every model)")
    p.add_argument("--json", action="store_true", help="print JSON (the routing file's content)")


def run_routing(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.models import registry, rollout

    engine = make_engine()
    try:
        names = [args.model] if args.model else registry.model_names(engine)
        routes = [rollout.current_routing(engine, name) for name in names]
    finally:
        engine.dispose()
    if args.json:
        data = [r.as_dict() for r in routes]
        print(json.dumps(data[0] if args.model else data, indent=2, sort_keys=True))
        return 0
    for r in routes:
        champion = f"v{r.champion.version} {r.champion.traffic_share:.0%}" if r.champion else "none"
        parts = [f"{r.model_name}: champion {champion}"]
        parts += [f"canary v{c.version} {c.traffic_share:.0%}" for c in r.challengers]
        parts += [f"shadow v{s.version}" for s in r.shadows]
        print(", ".join(parts))
    return 0


# --- judge -------------------------------------------------------------------------------------------


def configure_judge(p: argparse.ArgumentParser) -> None:
    p.description = "Compare a candidate with the champion on the time-based holdout; print the gates."
    p.add_argument("--model", required=True)
    p.add_argument("--candidate", required=True, type=int, help="candidate version number")
    p.add_argument("--champion", type=int, default=None, help="version number (default: the current champion)")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="print the evidence snapshot as JSON")


def run_judge(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from services.core.db import make_engine
    from services.models import judge, registry

    engine = make_engine()
    try:
        candidate = registry.find_version(engine, args.model, args.candidate)
        champion = registry.find_version(engine, args.model, args.champion).id if args.champion else None
        config = replace(judge.config_from_settings(engine), n_resamples=args.resamples)
        panel = judge.judge(engine, candidate.id, champion, config=config)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(panel.to_evidence(), indent=2, sort_keys=True))
    else:
        print(panel.headline())
        for g in panel.gates:
            result = "pass" if g.passed else ("-" if g.passed is None else "FAIL")
            print(f"  {result:<5} {g.scope:<22} {g.rule:<36} {g.candidate:.4f} vs {g.champion:.4f} {g.note}")
    return 0 if panel.verdict != "fail" else 1


# --- guard rails ---------------------------------------------------------------------------------------


def configure_guardrails(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Record the shadows' scores, then check every canary and shadow against the champion (for a schedule): "
        "a breach raises an alert and proposes a rollback. Exit code 1 when a guard rail is breached."
    )
    p.add_argument("--model", default=None, help="one model (default: every model)")
    p.add_argument("--max-drop", type=float, default=None,
                   help="tolerance for stages whose request set none (default 0.02)")  # fmt: skip
    p.add_argument("--min-rows", type=int, default=200, help="labelled rows needed on each side")


def run_guardrails(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.models import registry, rollout

    engine, actor = make_engine(), Actor.cli()
    breached = False
    try:
        for name in [args.model] if args.model else registry.model_names(engine):
            scored = rollout.record_shadow_scores(engine, actor, name)
            drop = rollout.DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
            checks = rollout.check_guardrails(engine, actor, name, max_drop=drop, min_rows=args.min_rows)
            print(f"{name}: {scored:,} shadow scores recorded; {len(checks)} stage(s) checked")
            for c in checks:
                print(f"  {c.message()}")
                breached = breached or c.breached
    finally:
        engine.dispose()
    return 1 if breached else 0


COMMANDS = {
    "retrain": (configure_retrain, run_retrain),
    "routing": (configure_routing, run_routing),
    "judge": (configure_judge, run_judge),
    "guardrails": (configure_guardrails, run_guardrails),
}
