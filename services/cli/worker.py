"""`python -m services worker [--once]`: run the job worker.

The worker lives in the top-level worker/ package, which services never import (the worker imports
services, not the other way round). This command therefore replaces its own process with
`python -c 'from worker.main import main ...'` (os.execv: the same process id, so SIGTERM and SIGKILL reach the worker
itself, and no parent lingers), rather than importing it by an import string.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout (not services.core.db's: it imports SQLAlchemy)


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--once", action="store_true", help="run what is due now, then exit")
    p.add_argument("--id", default=None, help="worker id shown on jobs (default host:pid:random)")
    p.add_argument("--stale-after", default=None, help="seconds without heartbeat before a job is reaped (30)")
    p.add_argument("--tick", default=None, help="seconds between housekeeping ticks (1)")


def _run(args: argparse.Namespace) -> int:
    flags = ["--once"] if args.once else []
    for flag, value in (("--id", args.id), ("--stale-after", args.stale_after), ("--tick", args.tick)):
        if value is not None:
            flags += [flag, str(value)]
    # `python -c`, with the checkout first on the path, so it resolves whatever the current folder.
    boot = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from worker.main import main; sys.exit(main(sys.argv[1:]))"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-c", boot, *flags])
    return 0  # not reached


COMMANDS = {"worker": (_args, _run)}
