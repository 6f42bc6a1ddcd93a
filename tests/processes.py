"""Starting a server process in a test: when has its start failed? (tests/e2e/harness.py, tests/api)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) a process has used so far, from /proc; None where that is not readable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


class Startup:
    """Whether a starting server has failed: it exited, or used more than `cpu_budget` CPU seconds without
    answering, or used none for `stalled_seconds` (hung). Not wall time: a start costs 5-15 CPU seconds
    (server.py imports every page first), and on a 2-core box shared by several test runs (load 20) the
    server gets a tenth of a core; a 60 s wall-clock bound failed healthy servers there, by the dozen."""

    def __init__(self, proc: subprocess.Popen, name: str, log: Path, cpu_budget: float, stalled_seconds: float = 60):
        self.proc, self.name, self.log = proc, name, log
        self.cpu_budget, self.stalled_seconds = cpu_budget, stalled_seconds
        self.started = self.last_progress = time.monotonic()
        self.cpu = 0.0

    def check(self) -> None:
        """Raise when the server has failed to start (see the class doc); otherwise return."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log.read_text()}")
        now, cpu = time.monotonic(), cpu_seconds(self.proc.pid)
        if cpu is None:  # no /proc: wall time is all there is
            cpu = self.cpu if now - self.started < self.cpu_budget else float("inf")
        if cpu > self.cpu:
            self.cpu, self.last_progress = cpu, now
        if self.cpu > self.cpu_budget:
            raise RuntimeError(f"{self.name} did not answer after {self.cpu:.0f} CPU seconds:\n{self.log.read_text()}")
        if now - self.last_progress > self.stalled_seconds:
            raise RuntimeError(f"{self.name} used no CPU for {self.stalled_seconds:.0f} s without answering (hung):"
                               f"\n{self.log.read_text()}")  # fmt: skip
