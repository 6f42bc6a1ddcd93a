"""`python -m services webhooks add|list|remove|test`: signed webhooks from the shell (acting as admin).

    webhooks add --url URL --secret SECRET --event EVENT [--event EVENT] [--allow-private]
    webhooks list
    webhooks remove ID
    webhooks test ID      queues a `test` event that the worker delivers like any other

The secret is never printed again after `add` (and is printed by `add` only when it generated one).
"""

from __future__ import annotations

import argparse

from services.core.db import make_engine
from services.core.roles import Actor
from services.notify import channels, events


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="webhooks_command", required=True)
    add = sub.add_parser("add", help="add a signed webhook")
    add.add_argument("--url", required=True)
    add.add_argument("--secret", default="", help="HMAC key, 16+ characters (generated and shown once when omitted)")
    add.add_argument("--event", action="append", required=True, help=f"one of: {', '.join(events.EVENT_TYPES)}, *")
    add.add_argument("--allow-private", action="store_true", help="allow private, loopback and link-local addresses")
    add.add_argument("--name", default="")
    sub.add_parser("list", help="list webhooks (secrets are never shown)")
    remove = sub.add_parser("remove", help="remove a webhook")
    remove.add_argument("id", type=int)
    test = sub.add_parser("test", help="queue a test event for one webhook")
    test.add_argument("id", type=int)


def _run(args: argparse.Namespace) -> int:
    engine, actor = make_engine(), Actor.cli()
    command = args.webhooks_command
    if command == "add":
        secret = args.secret or channels.new_secret()
        view = channels.add_channel(engine, actor, "webhook", args.url, args.event, secret=secret, name=args.name,
                                    allow_private=args.allow_private)  # fmt: skip
        print(f"Added webhook {view.id} -> {view.target} for {', '.join(view.events)}.")
        if not args.secret:
            print(f"Secret (shown this once): {secret}")
    elif command == "list":
        for c in channels.list_channels(engine, actor):
            if c.kind != "webhook" or c.paused_reason == "removed":
                continue
            state = "enabled" if c.enabled else f"paused: {c.paused_reason}"
            print(f"{c.id:>5}  {c.target:<50} {','.join(c.events):<40} {state}")
    elif command == "remove":
        channels.remove_channel(engine, actor, args.id)
        print(f"Removed webhook {args.id}.")
    else:
        event_id = channels.test_channel(engine, actor, args.id)
        print(f"Queued test event {event_id} for webhook {args.id}; the worker delivers it.")
    return 0


COMMANDS = {"webhooks": (_args, _run)}
