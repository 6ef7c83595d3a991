"""Order of test files when pytest-xdist runs them (``-n 2 --dist loadfile``, see pyproject.toml).

Each file runs whole on one worker, so its module fixtures (a ``dagster dev``, a fake cluster, a
benchmark's quick run) start once. Files are handed out in collection order; with the costly ones
first, the cheap files fill the end of the run and both workers finish at about the same time
instead of one running a long end-to-end file alone.

A file's cost is read from what its tests already declare: the ``e2e`` marker (real webserver and
daemon), then ``slow`` or a generous ``timeout`` (at least ``LONG_TIMEOUT_SECONDS``); within a rank,
the larger declared timeout goes first.
"""

from __future__ import annotations

import pytest

LONG_TIMEOUT_SECONDS = 300


def _item_cost(item: pytest.Item) -> tuple[int, float]:
    """(rank, declared timeout): a lower rank runs earlier."""
    timeout_marker = item.get_closest_marker("timeout")
    timeout = float(timeout_marker.args[0]) if timeout_marker and timeout_marker.args else 0.0
    if item.get_closest_marker("e2e"):
        rank = 0
    elif item.get_closest_marker("slow") or timeout >= LONG_TIMEOUT_SECONDS:
        rank = 1
    else:
        rank = 2
    return rank, timeout


def costliest_files_first(items: list[pytest.Item]) -> None:
    """Reorders ``items`` in place, file by file; files of equal cost and the tests within a file
    keep their collection order (the sort is stable)."""
    costs: dict[str, tuple[int, float]] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        rank, timeout = _item_cost(item)
        known_rank, known_timeout = costs.get(path, (rank, timeout))
        costs[path] = (min(rank, known_rank), max(timeout, known_timeout))
    items.sort(key=lambda item: (costs[path := item.nodeid.split("::")[0]][0], -costs[path][1]))
