"""Peak resident memory of the running process, for benchmarks that measure in subprocesses.

VmHWM, not ``ru_maxrss``: ``ru_maxrss`` survives exec, so a subprocess started from a larger
parent reports the parent's peak instead of its own.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
