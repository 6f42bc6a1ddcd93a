"""Experiments from the shell (as Actor.cli()), e.g. from cron between imports:

    python -m services experiments guard [--experiment KEY ...]   # the guard-rails of the running experiments

`guard` reads each running experiment (or the named ones), opens an alert for a sample-ratio mismatch
or a guardrail metric significantly worse than control, and proposes to stop it (an approval request);
see services/experiments/guard.py. It prints what it opened and exits with 1 when a new alert opened
(so a scheduler can notify), else 0.
"""

from __future__ import annotations

import argparse


def configure_experiments(p: argparse.ArgumentParser) -> None:
    p.description = "Experiments: check the guard-rails of the running experiments."
    sub = p.add_subparsers(dest="experiments_command", required=True)
    guard = sub.add_parser("guard", help="SRM and guardrail alerts (and stop proposals) for running experiments")
    guard.add_argument("--experiment", action="append", default=None, metavar="KEY",
                       help="only this experiment (repeat for several); default: every running one")  # fmt: skip


def run_experiments(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.experiments import guard as experiment_guard

    engine = make_engine()
    try:
        results = experiment_guard.evaluate_running(engine, Actor.cli(), args.experiment)
        opened = 0
        for r in results:
            state = "ok" if not r.alerts else f"{len(r.alerts)} alert{'s' if len(r.alerts) != 1 else ''}"
            print(f"{r.experiment}: {state}")
            for alert_id, sig in zip(r.opened, r.raised, strict=False):
                print(f"  alert {alert_id} opened ({sig})")
            if r.proposed and r.request is not None:
                print(f"  stop request #{r.request.id} proposed")
            opened += len(r.opened)
        if not results:
            print("No running experiment to guard.")
        print(f"{opened} new alert{'' if opened == 1 else 's'}.")
        return 1 if opened else 0
    finally:
        engine.dispose()


COMMANDS = {"experiments": (configure_experiments, run_experiments)}
