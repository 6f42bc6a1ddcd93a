"""Monitoring from the shell (as Actor.cli()), e.g. from cron between imports:

    python -m services alerts evaluate [--model NAME]   # evaluate the alert rules now; prints new alerts
    python -m services alerts list [--state open]       # alerts, newest first
    python -m services monitoring refresh               # fold new predictions/outcomes into blocks and summaries
    python -m services monitoring check-summaries MODEL VERSION    # day summaries against the table's rows
    python -m services monitoring rebuild-summaries MODEL VERSION  # rebuild them from the rows (admin, audited)

`alerts evaluate` exits with 1 when it opened an alert (so a scheduler can notify), else 0;
`monitoring check-summaries` with 1 when the summaries differ from the rows.
"""

from __future__ import annotations

import argparse


def configure_alerts(p: argparse.ArgumentParser) -> None:
    p.description = "Evaluate the alert rules or list the alerts."
    sub = p.add_subparsers(dest="alerts_command", required=True)
    evaluate = sub.add_parser("evaluate", help="evaluate every enabled rule now (refreshes the blocks first)")
    evaluate.add_argument("--model", default=None, help="only this model's rules")
    listing = sub.add_parser("list", help="alerts, newest first")
    listing.add_argument("--state", choices=["open", "acknowledged", "resolved"], default=None)
    listing.add_argument("--model", default=None)


def run_alerts(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.monitoring import alerts

    engine = make_engine()
    try:
        if args.alerts_command == "evaluate":
            opened = alerts.evaluate_rules(engine, Actor.cli(), model_name=args.model, trigger="command line")
            views = [alerts.get_alert(engine, a.id) for a in opened]  # type: ignore[arg-type]
            for view in views:
                print(f"alert {view.alert.id} [{view.rule.severity}] {view.rule.name}: {view.summary}")
            print(f"{len(opened)} new alert{'' if len(opened) == 1 else 's'}.")
            return 1 if opened else 0
        views = alerts.list_alerts(engine, args.state, args.model)
        for view in views:
            print(f"alert {view.alert.id} {view.alert.state:<12} {view.rule.name}: {view.summary}")
        if not views:
            print("No alerts.")
        return 0
    finally:
        engine.dispose()


def configure_monitoring(p: argparse.ArgumentParser) -> None:
    p.description = "Monitoring data: bring the day blocks and day summaries up to date, check or rebuild them."
    sub = p.add_subparsers(dest="monitoring_command", required=True)
    sub.add_parser("refresh", help="fold new predictions and outcomes into the day blocks and day summaries")
    commands = (
        ("check-summaries", "compare a version's day summaries and raw store with its rows"),
        ("rebuild-summaries", "rebuild a version's day summaries and raw store from its rows"),
    )
    for name, text in commands:
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("model")
        cmd.add_argument("version", type=int)


def run_monitoring(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.monitoring import summary_admin
    from services.monitoring.refresh import refresh_monitoring

    engine = make_engine()
    try:
        if args.monitoring_command == "check-summaries":
            mv = summary_admin.version_id(engine, args.model, args.version)
            checked = summary_admin.check_version(engine, mv)
            print(checked.summary())
            return 0 if checked.ok else 1
        if args.monitoring_command == "rebuild-summaries":
            print(summary_admin.rebuild_summaries(engine, Actor.cli(), args.model, args.version).summary())
            return 0
        print(refresh_monitoring(engine).summary())
        return 0
    finally:
        engine.dispose()


COMMANDS = {"alerts": (configure_alerts, run_alerts), "monitoring": (configure_monitoring, run_monitoring)}
