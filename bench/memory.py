"""Peak memory of the current process, measured so a benchmark child reports only its own.

``ru_maxrss`` survives fork and exec: a child started by a parent that has just generated
gigabytes of input reports the parent's peak. ``VmHWM`` belongs to the address space, which exec
replaces, so it is the child's own high-water mark.
"""

from __future__ import annotations

import threading
import time


def _status_mb(*names: str) -> dict[str, float]:
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in names:
                found[name] = int(value.split()[0]) / 1024
    return found


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux ``VmHWM``)."""
    return _status_mb("VmHWM")["VmHWM"]


class MemorySampler(threading.Thread):
    """Peak anonymous and file-backed RSS, sampled from /proc: Polars memory-maps CSV input, so
    total RSS counts the mapped file's page cache, which the kernel can drop at any time."""

    def __init__(self, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.interval, self.peaks, self.running = interval, {"RssAnon": 0.0, "RssFile": 0.0}, True

    def run(self) -> None:
        while self.running:
            for name, value in _status_mb(*self.peaks).items():
                self.peaks[name] = max(self.peaks[name], value)
            time.sleep(self.interval)
