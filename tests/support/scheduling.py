"""Order of test files when pytest-xdist runs them (``-n 2 --dist loadfile``, see pyproject.toml).

Each file runs whole on one worker, so its module fixtures (a ``dagster dev``, a fake cluster, a
benchmark's quick run) start once. Files are handed out in collection order; with the costly ones
(marked ``e2e``, then ``slow``) first, the cheap files fill the gaps at the end and both workers
finish at about the same time instead of one running a long end-to-end file alone.
"""

from __future__ import annotations

import pytest

# Most expensive first; a file ranks by the costliest marker any of its tests carries.
COST_MARKERS = ("e2e", "slow")


def file_rank(items: list[pytest.Item]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for item in items:
        rank = next(
            (index for index, name in enumerate(COST_MARKERS) if item.get_closest_marker(name)), len(COST_MARKERS)
        )
        ranks[item.nodeid.split("::")[0]] = min(rank, ranks.get(item.nodeid.split("::")[0], rank))
    return ranks


def costliest_files_first(items: list[pytest.Item]) -> None:
    """Reorders ``items`` in place by file rank; files of one rank and the tests within a file keep
    their collection order (the sort is stable)."""
    ranks = file_rank(items)
    position = {name: index for index, name in enumerate(dict.fromkeys(item.nodeid.split("::")[0] for item in items))}
    items.sort(key=lambda item: (ranks[item.nodeid.split("::")[0]], position[item.nodeid.split("::")[0]]))
