"""Retention and erasure from the shell (as Actor.cli(), the host's operator):

python -m services retention set MODEL DAYS     # keep DAYS days of the model's raw rows (audited)
python -m services retention run [--model M]    # purge rows older than each model's retention now
python -m services retention list               # the policies
python -m services erase REQUEST_ID --reason T  # erase one request id everywhere (audited)
"""

from __future__ import annotations

import argparse


def configure_retention(p: argparse.ArgumentParser) -> None:
    p.description = "A model's retention of raw prediction/outcome rows (day summaries and blocks stay)."
    sub = p.add_subparsers(dest="retention_command", required=True)
    setting = sub.add_parser("set", help="keep DAYS days of MODEL's raw rows before its latest day")
    setting.add_argument("model")
    setting.add_argument("days", type=int)
    run = sub.add_parser("run", help="purge now (every model with a policy, or --model)")
    run.add_argument("--model", default=None)
    sub.add_parser("list", help="the retention policies")


def run_retention(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.monitoring import retention

    engine = make_engine()
    try:
        if args.retention_command == "set":
            policy = retention.set_retention(engine, Actor.cli(), args.model, args.days)
            print(f"{policy.model_name}: raw rows are kept {policy.keep_days} days.")
        elif args.retention_command == "run":
            results = ([retention.purge(engine, Actor.cli(), args.model)] if args.model
                       else retention.purge_all(engine, Actor.cli()))  # fmt: skip
            for result in results:
                print(result.summary())
            if not results:
                print("No model has a retention policy.")
        else:
            for policy in retention.policies(engine):
                print(f"{policy.model_name}: {policy.keep_days} days (purged before {policy.purged_before or '-'})")
        return 0
    finally:
        engine.dispose()


def configure_erase(p: argparse.ArgumentParser) -> None:
    p.description = "Erase one request id (a data subject's request) from every table, file and future training set."
    p.add_argument("request_id")
    p.add_argument("--reason", required=True, help="why (e.g. the ticket of the request); audited")


def run_erase(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.ingest import erasure

    engine = make_engine()
    try:
        print(erasure.erase_request(engine, Actor.cli(), args.request_id, args.reason).summary())
        return 0
    finally:
        engine.dispose()


COMMANDS = {
    "retention": (configure_retention, run_retention),
    "erase": (configure_erase, run_erase),
}
