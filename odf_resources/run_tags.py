"""Dagster's run tag names that ODF reads, as plain strings.

Dagster 1.13 exports none of these publicly; they are the names its UI and GraphQL show. Keeping
them in a module without Dagster lets the ``odf`` CLI format runs without importing Dagster.
"""

from __future__ import annotations

PARTITION_TAG = "dagster/partition"
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"
# Set on a run that re-executes another one (run retries, re-execution from the UI).
PARENT_RUN_ID_TAG = "dagster/parent_run_id"
# Set by Dagster when run retries (dagster.yaml run_retries) will start the run again.
WILL_RETRY_TAG = "dagster/will_retry"


def run_partition(tags: dict[str, str]) -> str | None:
    """``2024-01-05`` for a single-partition run, ``2024-01-01..2024-01-31`` for a range run."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    start, end = tags.get(PARTITION_RANGE_START_TAG), tags.get(PARTITION_RANGE_END_TAG)
    return f"{start}..{end}" if start and end else None
