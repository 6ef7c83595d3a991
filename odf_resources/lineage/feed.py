"""The instance's event records, read in storage order after a cursor, as OpenLineage events.

Only record types every event log can list across runs by storage id are read: asset events
(materialization planned / stored) and run status changes. The run-sharded SQLite event log mirrors
exactly those into its index shard, so one cursor works there and on PostgreSQL alike. Step
failures live only in a run's own shard; they are read per run once the run has ended.

Per record:

* ``ASSET_MATERIALIZATION_PLANNED`` → one START per planned partition;
* ``ASSET_MATERIALIZATION`` → COMPLETE (also for the passing days a failed range run published);
* ``RUN_FAILURE`` / ``RUN_CANCELED`` → for every planned partition the run did not store, FAIL if
  its step failed (with the step's error), else ABORT (the run ended before the step ran, a worker
  was killed, the run was canceled).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import dagster as dg
from openlineage.client.event_v2 import RunEvent, RunState

from odf_resources.lineage.events import LineageContext, complete_event, failure_event, root_cause_message, start_events

ET = dg.DagsterEventType
ASSET_TYPES = (ET.ASSET_MATERIALIZATION_PLANNED, ET.ASSET_MATERIALIZATION)
RUN_END_TYPES = (ET.RUN_FAILURE, ET.RUN_CANCELED)
_OUTCOME_TYPES = {ET.ASSET_MATERIALIZATION_PLANNED, ET.ASSET_MATERIALIZATION, ET.STEP_FAILURE}


@dataclass(frozen=True)
class Naming:
    """Where datasets live (``ODF_STORAGE``) and the lineage job namespace."""

    storage_base: str
    job_namespace: str


def read_records(
    instance: dg.DagsterInstance, after: int, limit: int, before: float | None = None
) -> tuple[list[dg.EventLogRecord], bool]:
    """Up to ``limit`` lineage-relevant records with storage id > ``after``, ascending; and whether more wait.

    Each type is read with the same limit, so the ``limit`` smallest ids of the union are exactly
    the next ``limit`` records: a type cut off at its ``limit``-th record cannot hide a smaller id.
    ``before`` (epoch seconds) leaves out newer records: on PostgreSQL an id becomes visible when
    its insert commits, so reading only records a few seconds old keeps a slower insert's smaller
    id from being passed over.
    """
    batches: list[list[dg.EventLogRecord]] = []
    with warnings.catch_warnings():
        # get_event_records is the one cross-run API for planned events; its deprecation is for 2.0.
        warnings.simplefilter("ignore")
        for kind in ASSET_TYPES:
            records_filter = dg.EventRecordsFilter(kind, after_cursor=after, before_timestamp=before)
            batches.append(list(instance.get_event_records(records_filter, limit=limit, ascending=True)))
    for kind in RUN_END_TYPES:
        records_filter = dg.RunStatusChangeRecordsFilter(kind, after_storage_id=after, before_timestamp=before)
        batches.append(list(instance.fetch_run_status_changes(records_filter, limit=limit, ascending=True).records))
    merged = sorted((r for batch in batches for r in batch), key=lambda r: r.storage_id)
    return merged[:limit], len(merged) > limit or any(len(batch) == limit for batch in batches)


def lineage_events(instance: dg.DagsterInstance, record: dg.EventLogRecord, naming: Naming) -> list[RunEvent]:
    """The OpenLineage events of one record, in a fixed order (a cursor may resume in the middle)."""
    entry = record.event_log_entry
    event = entry.dagster_event
    ctx = LineageContext(
        storage_base=naming.storage_base,
        job_namespace=naming.job_namespace,
        dagster_run_id=entry.run_id,
        dagster_job_name=entry.job_name or event.job_name or "unknown",
        timestamp=entry.timestamp,
    )
    if event.event_type == ET.ASSET_MATERIALIZATION_PLANNED:
        return start_events(ctx, event.event_specific_data)
    if event.event_type == ET.ASSET_MATERIALIZATION:
        return [complete_event(ctx, event.step_materialization_data.materialization)]
    # Only what was stored before the run ended: a retried tick must compute the same events (its
    # cursor may point inside them), even if a killed run's step process stores more afterwards.
    records = [
        r
        for r in instance.get_records_for_run(entry.run_id, of_type=_OUTCOME_TYPES).records
        if r.timestamp <= entry.timestamp
    ]
    return unfinished_events(ctx, records, event.event_type)


def unfinished_events(ctx: LineageContext, records: Iterable[dg.EventLogRecord], run_end: ET) -> list[RunEvent]:
    """FAIL/ABORT for each planned (asset, partition) of an ended run that has no materialization."""
    planned: dict[tuple[str, str], str | None] = {}
    materialized: set[tuple[str, str]] = set()
    step_errors: dict[str, str] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data
        if event.event_type == ET.ASSET_MATERIALIZATION_PLANNED:
            keys = data.partitions_subset.get_partition_keys() if data.partitions_subset else [data.partition]
            planned.update({(data.asset_key.to_user_string(), key or ""): event.step_key for key in keys})
        elif event.event_type == ET.ASSET_MATERIALIZATION:
            materialization = data.materialization
            materialized.add((materialization.asset_key.to_user_string(), materialization.partition or ""))
        else:
            step_errors[event.step_key] = root_cause_message(event.step_failure_data.error)
    ended = "canceled" if run_end == ET.RUN_CANCELED else "failed"
    events = []
    for asset, partition in sorted(planned.keys() - materialized):
        step = planned[(asset, partition)]
        if step in step_errors:
            events.append(failure_event(ctx, RunState.FAIL, asset, partition or None, step_errors[step]))
        else:
            message = f"the run {ended} before this asset partition was materialized"
            events.append(failure_event(ctx, RunState.ABORT, asset, partition or None, message))
    return events
