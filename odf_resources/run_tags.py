"""Dagster's run tag names that ODF reads, as plain strings.

Dagster 1.13 exports none of these publicly; they are the names its UI and GraphQL show. Keeping
them in a module without Dagster lets the ``odf`` CLI format runs without importing Dagster.
"""

from __future__ import annotations

from collections.abc import Callable

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


# Set by the queued-run sensor (odf_sensors.queue_state) on a QUEUED run: why it waits, the text
# `odf trigger --wait` and `odf status` print.
QUEUE_STATE_TAG = "odf/queue_state"


def queue_state_text(
    run_pools: list[str], holders: dict[str, list[str]], pool_limit: Callable[[str], int | None]
) -> str:
    """Why a QUEUED run waits: the first of ``run_pools`` whose slots are all held, with the runs
    holding them. ``holders``: run id → pools of each run in progress (starting or started)."""
    for pool in run_pools:
        limit = pool_limit(pool)
        using = [run_id for run_id, pools in holders.items() if pool in pools]
        if limit is not None and len(using) >= limit:
            runs = ", ".join(short_run_id(run_id) for run_id in using)
            return f"queued: waiting for pool {pool} ({len(using)} of {limit} slots in use by runs {runs})"
    pools = ", ".join(run_pools) or "none"
    return f"queued: waiting for the run queue to dequeue it (pools: {pools}; {len(holders)} run(s) in progress)"


def short_run_id(run_id: str) -> str:
    """The first group of a run id, as Dagster's UI shows it."""
    return run_id.split("-", 1)[0]
