"""Command line: `python -m services <command>`. Each command calls the same services the pages use."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from services.core.errors import LoopdeckError

# name -> (configure parser, run). Each stage adds its commands in services/cli/<stage>.py.
Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]


def _engine():
    from services.core.db import make_engine

    return make_engine()


# --- init-db -----------------------------------------------------------------------------------


def _init_db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--demo", action="store_true", help="load the demo into a fresh database (no users, audit events or data)"
    )


def _init_db(args: argparse.Namespace) -> int:
    from services.core.db import database_url, migrate

    engine = _engine()
    migrate(engine)
    print(f"Schema is at the latest migration ({database_url().split('@')[-1]}).")
    if args.demo:
        from data.demo import load_demo, why_not_fresh

        reason = why_not_fresh(engine)
        if reason is None:
            load_demo(engine, echo=print)
        else:
            print(f"Demo not loaded: {reason} (it loads only into a fresh database).")
    return 0


# --- users -------------------------------------------------------------------------------------


def _users_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("--email", required=True)
    add.add_argument("--role", required=True, choices=["viewer", "analyst", "approver", "admin"])
    add.add_argument("--name", default="")
    add.add_argument("--sso-only", action="store_true", help="no password: sign in through SSO only")
    sub.add_parser("list", help="list users")
    unlock = sub.add_parser("unlock", help="end the wait after failed sign-ins (audited)")
    unlock.add_argument("email")
    reset = sub.add_parser("reset-password", help="set a new password (prompts for it; audited)")
    reset.add_argument("email")


def _users(args: argparse.Namespace) -> int:
    from services.core import users
    from services.core.roles import Actor

    engine, actor = _engine(), Actor.cli()
    if args.users_command in ("unlock", "reset-password"):
        return _users_access(engine, actor, args)
    if args.users_command == "add":
        password = None
        if not args.sso_only:
            password = getpass.getpass(f"Password for {args.email}: ")
            if getpass.getpass("Repeat the password: ") != password:
                print("The passwords do not match.", file=sys.stderr)
                return 2
        view = users.add_user(engine, actor, args.email, args.role, password, name=args.name)
        print(f"Added {view.email} as {view.role} (id {view.id}).")
    else:
        for u in users.list_users(engine, actor):
            flags = " disabled" if u.disabled else ""
            print(f"{u.id:>5}  {u.email:<40} {u.role:<9}{flags}")
    return 0


def _users_access(engine, actor, args: argparse.Namespace) -> int:
    from services.core import users

    user = users.find(engine, actor, args.email)
    if args.users_command == "unlock":
        users.unlock(engine, actor, user.id)
        print(f"{user.email} can sign in again (the wait after failed sign-ins is cleared).")
        return 0
    password = getpass.getpass(f"New password for {user.email}: ")
    if getpass.getpass("Repeat the password: ") != password:
        print("The passwords do not match.", file=sys.stderr)
        return 2
    users.set_password(engine, actor, user.id, password)
    print(f"New password set for {user.email}; their open sessions have ended.")
    return 0


# --- audit -------------------------------------------------------------------------------------


def _audit_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="audit_command", required=True)
    sub.add_parser(
        "verify",
        help="check the audit log: the keyed hash chain, the chain head and the checkpoints outside the database",
    )


def _audit(args: argparse.Namespace) -> int:
    from services.core import audit

    report = audit.verify(_engine())
    print("\n".join(report.details()))
    return 0 if report.intact else 1


COMMANDS: dict[str, Command] = {
    "init-db": (_init_db_args, _init_db),
    "users": (_users_args, _users),
    "audit": (_audit_args, _audit),
}


def _load_feature_commands(only: str | None = None) -> None:
    """Each stage's commands live in a module of services/cli/ exposing COMMANDS (`only`: that module's)."""
    import importlib
    import pkgutil

    from services import cli

    for info in pkgutil.iter_modules(cli.__path__):
        if info.name != "main" and only in (None, info.name):
            COMMANDS.update(importlib.import_module(f"services.cli.{info.name}").COMMANDS)


# Commands that start a process of their own which loads what it needs itself: the worker (it replaces
# this process) and the API (its app). They load only their own command module here, and neither the
# request kinds nor SQLAlchemy: loading every feature first cost each of their starts ~3 CPU-s of imports.
OWN_ENTRY_POINT = {"worker", "api"}  # each the name of its module in services/cli/


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _load_feature_commands(argv[0] if argv and argv[0] in OWN_ENTRY_POINT else None)
    parser = argparse.ArgumentParser(prog="python -m services", description="Loopdeck from the shell.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, _) in COMMANDS.items():
        configure(sub.add_parser(name))
    args = parser.parse_args(argv)
    if args.command not in OWN_ENTRY_POINT:
        # Imported here, not at start: it imports every feature, which `worker` and `api` do not need here.
        from services import kinds

        kinds.load()  # every feature's request kinds, before any command files, decides or executes a request
    try:
        return COMMANDS[args.command][1](args)
    except LoopdeckError as exc:
        return _print_error(exc)
    except Exception as exc:
        # Imported here, not at start: `worker` and `api` start without SQLAlchemy in this process.
        import sqlalchemy as sa

        from services.core import db_errors

        database = isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
        if not database or not db_errors.is_connection_error(exc):
            raise
        return _print_error(db_errors.explain(exc))


def _print_error(exc: LoopdeckError) -> int:
    """One line (and a hint where there is one) instead of a traceback."""
    print(f"error: {exc}", file=sys.stderr)
    if getattr(exc, "hint", ""):
        print(f"hint: {exc.hint}", file=sys.stderr)
    return 2
