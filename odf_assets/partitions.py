"""Partition definitions, built once per (start, end) so every asset over a source shares them."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import dagster as dg

# Big enough that a year of daily partitions takes a handful of runs, small enough that one run's
# partitions fit comfortably in a worker pod's memory.
DAILY_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=62)
WEEKLY_BACKFILL_POLICY = dg.BackfillPolicy.single_run()


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
