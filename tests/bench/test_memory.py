"""The benches' memory figures measure the process they name: a child reports its own peak, not its
parent's (ru_maxrss of an exec'd child, and the parent's RUSAGE_CHILDREN, start at the parent's peak)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from bench.bench_monitoring import parse_child_report
from bench.memory import own_peak_rss_mib

ROOT = Path(__file__).resolve().parents[2]
PARENT_MIB = 300


def test_child_reports_its_own_peak_not_the_parents():
    ballast = bytearray(PARENT_MIB * 2**20)
    for i in range(0, len(ballast), 4096):  # touch every page: resident, not just reserved
        ballast[i] = 1
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import resource; from bench.memory import own_peak_rss_mib\n"
        "print(1.5, own_peak_rss_mib()); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    seconds, own = parse_child_report(lines[0])
    inherited = float(lines[1])
    assert seconds == 1.5
    assert own < 100, f"the child's own peak should be a bare interpreter's, read {own:.0f} MiB"
    # What the old figure read: at least the parent's ballast.
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 >= PARENT_MIB
    assert inherited >= PARENT_MIB or own < inherited  # ru_maxrss carries the parent's peak on Linux
    del ballast


def test_own_peak_is_at_least_the_current_resident_set():
    from bench.memory import current_rss_mib

    assert own_peak_rss_mib() >= current_rss_mib() > 0
