"""`python -m services worker [--once]`: run the job worker.

The worker lives in the top-level worker/ package, which services never import (the worker imports
services, not the other way round). This command therefore replaces its own process with
`python -m worker ...` (os.execv: the same process id, so SIGTERM and SIGKILL reach the worker
itself, and no parent lingers), rather than importing it by an import string.
"""

from __future__ import annotations

import argparse
import os
import sys

from services.core.db import ROOT


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="run what is due now, then exit")
    p.add_argument("--id", default=None, help="worker id shown on jobs (default host:pid:random)")
    p.add_argument("--stale-after", default=None, help="seconds without heartbeat before a job is reaped (30)")
    p.add_argument("--tick", default=None, help="seconds between housekeeping ticks (1)")


def _run(args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "worker"]
    if args.once:
        argv.append("--once")
    for flag, value in (("--id", args.id), ("--stale-after", args.stale_after), ("--tick", args.tick)):
        if value is not None:
            argv += [flag, str(value)]
    env = dict(os.environ)  # `-m worker` resolves from the checkout, whatever the current folder
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    sys.stdout.flush()
    os.execve(sys.executable, argv, env)
    return 0  # not reached


COMMANDS = {"worker": (_args, _run)}
