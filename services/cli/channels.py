"""`python -m services channels add|list|remove` (Slack, Teams, e-mail through apprise; acting as the
operator) and `python -m services pipeline set|show|remove` (a model's external retraining pipeline):

    channels add --url slack://TOKEN_A/TOKEN_B/TOKEN_C --event alert.opened [--event ...] [--name NAME]
    channels list                 every channel, webhooks included; URLs masked, secrets never shown
    channels remove ID
    pipeline set --model NAME --url https://ci.example.com/hooks/retrain [--secret S] [--allow-private]
    pipeline show --model NAME
    pipeline remove --model NAME  train this model here again

Signed webhooks have their own command (`webhooks`), as the README shows.
"""

from __future__ import annotations

import argparse

from services.core.db import make_engine
from services.core.roles import Actor
from services.notify import channels, events


def _channels_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="channels_command", required=True)
    add = sub.add_parser("add", help="add a Slack, Teams or e-mail channel (an apprise URL)")
    add.add_argument("--url", required=True, help="an apprise URL: slack://..., msteams://..., mailtos://...")
    add.add_argument("--event", action="append", required=True, help=f"one of: {', '.join(events.EVENT_TYPES)}, *")
    add.add_argument("--name", default="")
    sub.add_parser("list", help="list every channel")
    remove = sub.add_parser("remove", help="remove a channel")
    remove.add_argument("id", type=int)


def _channels(args: argparse.Namespace) -> int:
    engine, actor = make_engine(), Actor.cli()
    if args.channels_command == "add":
        view = channels.add_channel(engine, actor, "apprise", args.url, args.event, name=args.name)
        print(f"Added channel {view.id} -> {view.target} for {', '.join(view.events)}.")
    elif args.channels_command == "list":
        for c in channels.list_channels(engine, actor):
            if c.paused_reason == "removed":
                continue
            state = "enabled" if c.enabled else f"paused: {c.paused_reason}"
            print(f"{c.id:>5}  {c.kind:<8} {c.target:<50} {','.join(c.events) or '-':<40} {state}")
    else:
        channels.remove_channel(engine, actor, args.id)
        print(f"Removed channel {args.id}.")
    return 0


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="pipeline_command", required=True)
    put = sub.add_parser("set", help="retrain this model in an external pipeline (a signed webhook)")
    put.add_argument("--model", required=True)
    put.add_argument("--url", required=True)
    put.add_argument("--secret", default="", help="HMAC key, 16+ characters (generated and shown once when omitted)")
    put.add_argument("--allow-private", action="store_true", help="allow private, loopback and link-local addresses")
    for name in ("show", "remove"):
        sub.add_parser(name).add_argument("--model", required=True)


def _pipeline(args: argparse.Namespace) -> int:
    from services.models import external_pipeline

    engine, actor = make_engine(), Actor.cli()
    if args.pipeline_command == "set":
        view, secret = external_pipeline.set_pipeline(engine, actor, args.model, args.url, args.secret,
                                                      allow_private=args.allow_private)  # fmt: skip
        print(f"Approved retrain requests for {args.model} now call {view.url}.")
        if not args.secret:
            print(f"Secret (shown this once): {secret}")
    elif args.pipeline_command == "show":
        view = external_pipeline.get_pipeline(engine, args.model)
        print(f"{args.model}: {view.url}" if view else f"{args.model} is retrained here (no external pipeline).")
    else:
        external_pipeline.remove_pipeline(engine, actor, args.model)
        print(f"{args.model} is retrained here again.")
    return 0


COMMANDS = {"channels": (_channels_args, _channels), "pipeline": (_pipeline_args, _pipeline)}
