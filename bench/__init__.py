"""Benchmarks: ``python -m bench`` (``make bench``)."""

from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike ``getrusage().ru_maxrss``, which
    survives ``exec`` and so reports the parent's peak in a freshly spawned child, VmHWM belongs
    to the process's own address space."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
