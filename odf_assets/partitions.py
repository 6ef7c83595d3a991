"""Partition definitions, built once per (start, end) so every asset over a source shares them."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import dagster as dg

# Any range is one run (a backfill from the UI, `odf materialize`, `dg launch --partition-range`):
# the assets bound their own memory instead, computing a long range RANGE_WINDOW_PARTITIONS
# partitions at a time (publishing.emit_checked; raw sources stream day by day).
DAILY_BACKFILL_POLICY = dg.BackfillPolicy.single_run()
WEEKLY_BACKFILL_POLICY = dg.BackfillPolicy.single_run()
# Two months of days: what one worker pod's memory was sized for (k8s_config.HEAVY_CONTAINER_RESOURCES).
RANGE_WINDOW_PARTITIONS = 62


def day_spans(days: list[str]) -> list[list[str]]:
    """Consecutive days as runs of days (a range run needs a contiguous range)."""
    spans: list[list[str]] = []
    for day in sorted(days):
        if spans and date.fromisoformat(day) - date.fromisoformat(spans[-1][-1]) == timedelta(days=1):
            spans[-1].append(day)
        else:
            spans.append([day])
    return spans


def _exclusive(end: date | None) -> str | None:
    return (end + timedelta(days=1)).isoformat() if end else None


@cache
def daily_partitions(start: date, last_day: date | None = None) -> dg.DailyPartitionsDefinition:
    """Daily partitions from ``start`` through ``last_day`` (inclusive; open-ended when None)."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), end_date=_exclusive(last_day))


@cache
def weekly_partitions(start: date, last_day: date | None = None) -> dg.WeeklyPartitionsDefinition:
    """Monday-to-Sunday weeks, keyed by their Monday, covering the daily range's whole weeks."""
    monday = start + timedelta(days=(7 - start.weekday()) % 7)
    return dg.WeeklyPartitionsDefinition(start_date=monday.isoformat(), day_offset=1, end_date=_exclusive(last_day))
