"""Peak memory of a process, measured where it is true.

`own_peak_rss_mib` reads VmHWM from /proc/self/status: the high-water mark of the current address
space only. ru_maxrss is not that in a process started by exec: Linux keeps the replaced address
space's peak across execve, and Python's subprocess starts children with vfork, so a child's
ru_maxrss (and the parent's RUSAGE_CHILDREN) begin at the parent's own peak. Measured here: a child of
a parent holding 800 MiB read ru_maxrss 813 MiB and VmHWM 13 MiB (tests/bench/test_memory.py).
"""

from __future__ import annotations

import resource


def ru_maxrss_mib() -> float:
    """ru_maxrss of this process in MiB (KiB on Linux). Inflated in an exec'd child: see the module doc."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def own_peak_rss_mib() -> float:
    """This process's own peak resident set in MiB (VmHWM); ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return ru_maxrss_mib()


def current_rss_mib() -> float:
    """Resident set now (VmRSS), in MiB; 0 where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
