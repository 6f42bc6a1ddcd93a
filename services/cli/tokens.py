"""`python -m services tokens create|list|revoke`: API tokens from the shell (as Actor.cli(), an admin).

`tokens create` prints the token alone on its last line, once: only its hash is stored.
"""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    from services.core.tokens import SCOPES

    p.description = "Create, list and revoke API tokens (for pipelines and serving systems)."
    sub = p.add_subparsers(dest="tokens_command", required=True)
    create = sub.add_parser("create", help="create a token and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, choices=list(SCOPES), help="repeatable")
    create.add_argument("--model", action="append", default=None, help="limit the token to this model (repeatable)")
    create.add_argument("--expires-days", type=int, default=None)
    create.add_argument("--rate-per-minute", type=int, default=None, help="requests a minute (default 6000)")
    sub.add_parser("list", help="list tokens (never their secrets)")
    revoke = sub.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("name")


def run(args: argparse.Namespace) -> int:
    from services.core import tokens
    from services.core.db import make_engine
    from services.core.roles import Actor

    engine, actor = make_engine(), Actor.cli()
    try:
        if args.tokens_command == "create":
            rate = args.rate_per_minute or tokens.DEFAULT_RATE_PER_MINUTE
            created = tokens.create_token(engine, actor, args.name, args.scope, args.model, args.expires_days, rate)
            t = created.token
            expires = f", expires {t.expires_at:%Y-%m-%d}" if t.expires_at else ""
            models = f", models {', '.join(t.models)}" if t.models else ""
            print(f"Created token {t.name!r} (scopes {', '.join(t.scopes)}{models}{expires}). It is shown only once:")
            print(created.secret)
        elif args.tokens_command == "list":
            for t in tokens.list_tokens(engine, actor):
                expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
                models = ",".join(t.models) if t.models else "*"
                print(f"{t.name:<24} {t.status():<8} {t.prefix}...  {','.join(t.scopes):<32} models={models} "
                      f"expires={expires} by={t.created_by}")  # fmt: skip
        else:
            t = tokens.revoke_token(engine, actor, args.name)
            print(f"Revoked token {t.name!r}.")
    finally:
        engine.dispose()
    return 0


COMMANDS = {"tokens": (configure, run)}
