"""The CPU a command and every process it started used, orphans included:

    python3 bench/suite_cpu.py .ci/run

/usr/bin/time counts only the processes that get reaped by the process tree it watches. Chromium's renderers
outlive their browser and are re-parented to init, so a browser test's renderers were never counted.
Run as a child subreaper (Linux prctl PR_SET_CHILD_SUBREAPER), this process inherits every orphan, reaps
it, and so RUSAGE_CHILDREN holds all of them. The Postgres server's CPU is not included (not our child).
Prints: `suite-cpu: rc=N user_s=X sys_s=X total_s=X wall_s=X`.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def main(command: list[str]) -> int:
    if sys.platform != "linux":
        raise SystemExit("suite_cpu needs Linux (prctl PR_SET_CHILD_SUBREAPER)")
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    started = time.monotonic()
    rc = subprocess.call(command)
    while True:  # reap every orphan that was re-parented to this process
        try:
            os.wait()
        except ChildProcessError:
            break
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - started
    total = r.ru_utime + r.ru_stime
    line = f"rc={rc} user_s={r.ru_utime:.1f} sys_s={r.ru_stime:.1f} total_s={total:.1f} wall_s={wall:.0f}"
    print(f"suite-cpu: {line}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:] or [".ci/run"]))
