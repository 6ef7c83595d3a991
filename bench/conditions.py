"""What every benchmark shares: the conditions it ran under, interleaved repeats, and one
machine-readable result line.

A benchmark prints ``describe()`` first (date, machine, load average) and its load average again at
the end, runs its contenders in interleaved rounds (every round runs each contender once, in an
order rotated each round, so a burst of load on a shared machine hits them alike) and reports
medians. Its last line is ``RESULT {json}``: ``python -m bench --readme`` and the smoke tests
(tests/bench/) read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

RESULT_PREFIX = "RESULT "


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    with contextlib.suppress(ValueError, OSError):
        memory = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    return f"{os.cpu_count()} CPUs ({model}){memory}, {platform.system()}, Python {platform.python_version()}"


def describe() -> dict[str, str]:
    """When and where: printed first by every benchmark and kept in its result."""
    conditions = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_average": load_average(),
    }
    print(f"{conditions['date']}; {conditions['machine']}; load average {conditions['load_average']}", flush=True)
    return conditions


def interleaved(names: Sequence[str], repeats: int, run: Callable[[str], Any]) -> dict[str, list[Any]]:
    """``run(name)`` ``repeats`` times per name, in rounds; each round starts one contender later."""
    results: dict[str, list[Any]] = {name: [] for name in names}
    for round_number in range(repeats):
        order = list(names[round_number % len(names) :]) + list(names[: round_number % len(names)])
        for name in order:
            results[name].append(run(name))
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def emit(result: dict[str, Any]) -> None:
    """The benchmark's last line: its result with the load average at the end of the run."""
    print(RESULT_PREFIX + json.dumps({**result, "load_average_after": load_average()}, default=str), flush=True)


def parse(output: str) -> dict[str, Any]:
    """The ``RESULT`` line of a benchmark's output (the last one, if several)."""
    lines = [line for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise ValueError("no RESULT line in the benchmark's output")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])
