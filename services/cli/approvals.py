"""Approved requests from the shell (as Actor.cli(), an admin), through the same executor as the pages:

    python -m services approvals list [--status approved]
    python -m services approvals plan --request ID       # what executing it would do now, and its digest
    python -m services approvals execute --request ID [--expect DIGEST]

`execute` runs any kind (promote, canary, rollback, retrain, stop-experiment) with the kind's role rule,
lock, approvals re-check and audit event (services/governance/executor.py); with --expect it refuses
when the plan changed since `plan` printed that digest.
"""

from __future__ import annotations

import argparse


def configure_approvals(p: argparse.ArgumentParser) -> None:
    p.description = "Approval requests: list them, show what executing one would do, execute an approved one."
    sub = p.add_subparsers(dest="approvals_command", required=True)
    listing = sub.add_parser("list", help="requests, newest first")
    listing.add_argument("--status", default=None, help="pending, approved, executed, rejected or cancelled")
    for name, text in (("plan", "what executing the request would do now"), ("execute", "execute an approved request")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--request", type=int, required=True, help="the request's id")
    sub.choices["execute"].add_argument("--expect", default=None, help="the digest `plan` printed")


def run_approvals(args: argparse.Namespace) -> int:
    from services.core.db import make_engine
    from services.core.roles import Actor
    from services.governance import approvals, executor

    engine = make_engine()
    try:
        if args.approvals_command == "list":
            for r in approvals.list_requests(engine, status=args.status):
                print(f"#{r.id}  {r.kind:<16} {r.subject_type}:{r.subject_id:<12} {r.status:<9} {r.requested_by}")
            return 0
        if args.approvals_command == "plan":
            preview = executor.preview(engine, args.request)
            for i, step in enumerate(preview.steps, start=1):
                print(f"{i}. {step}")
            print(f"digest {preview.digest}" + ("" if preview.executable else f"; cannot run now: {preview.blocker}"))
            return 0 if preview.executable else 1
        done = executor.execute(engine, Actor.cli(), args.request, expected_digest=args.expect)
        print(done.summary())
        return 0
    finally:
        engine.dispose()


COMMANDS = {"approvals": (configure_approvals, run_approvals)}
