"""In-process runs behind ``odf materialize``: any asset selection over a date range.

Selected assets are grouped by partitioning (each source's days, the weekly assets, unpartitioned
ones like the iris model); each group is one run over its partitions inside the range (the assets'
BackfillPolicy lets them take ranges), upstream groups first. Progress comes from the run's events
as the instance stores them (``EventFollower``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from odf_assets.partitions import day_spans
from odf_cli import catalog
from odf_cli import progress as kinds
from odf_cli.main import CommandError
from odf_cli.progress import Progress, RunEvent, step_error_text
from odf_resources.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

ROW_COUNT = "dagster/row_count"
_KINDS = {
    dg.DagsterEventType.STEP_START: kinds.START,
    dg.DagsterEventType.STEP_SUCCESS: kinds.SUCCESS,
    dg.DagsterEventType.STEP_FAILURE: kinds.FAILURE,
    dg.DagsterEventType.STEP_SKIPPED: kinds.SKIPPED,
    dg.DagsterEventType.ASSET_MATERIALIZATION: kinds.MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION: kinds.CHECK,
}


def run_event(entry: dg.EventLogEntry) -> RunEvent | None:
    """The progress view of one Dagster event (None for events progress does not show)."""
    kind = _KINDS.get(entry.dagster_event_type)
    if kind is None:
        return None
    common = {"kind": kind, "step": entry.step_key, "timestamp": entry.timestamp}
    if kind == kinds.MATERIALIZATION:
        materialization = entry.asset_materialization
        rows = materialization.metadata.get(ROW_COUNT)
        return RunEvent(
            **common,
            asset=materialization.asset_key.to_user_string(),
            partition=materialization.partition,
            rows=int(rows.value) if rows is not None else None,
        )
    if kind == kinds.CHECK:
        evaluation = entry.asset_check_evaluation
        return RunEvent(
            **common,
            asset=evaluation.asset_key.to_user_string(),
            check=evaluation.check_name,
            passed=evaluation.passed,
            severity=evaluation.severity.value,
            partition=evaluation.partition,
            message=evaluation.description,
        )
    if kind == kinds.FAILURE:
        error = entry.get_dagster_event().step_failure_data.error
        if error is None:
            return RunEvent(**common, message=entry.message)
        return RunEvent(**common, message=step_error_text(error.message, error.cause.message if error.cause else None))
    return RunEvent(**common)


class EventFollower:
    """Feeds a run's events to ``progress`` as the instance stores them.

    The run executes in this process on this instance, so the instance hands each event to the
    listener right after writing it: nothing reads the event log back. (Polling it every 0.3 s
    competed with the run's own writes for the SQLite storage's lock.)
    """

    def __init__(self, instance: dg.DagsterInstance, run_id: str, progress: Progress):
        self.progress = progress
        self.failed: Exception | None = None
        instance.add_event_listener(run_id, self.on_event)

    def on_event(self, entry: dg.EventLogEntry) -> None:
        if self.failed is not None or entry.dagster_event_type not in _KINDS:
            return
        try:
            event = run_event(entry)
            if event is not None:
                self.progress.feed(event)
        except Exception as error:  # the display must never fail the run it shows
            self.failed = error
            self.progress.heading(f"warning: progress display stopped: {error!r}")


def keys_in_range(partitions_def: dg.PartitionsDefinition, start: str, end: str) -> list[str]:
    """Partition keys whose window lies inside [start, end] (inclusive days)."""
    first, after_last = date.fromisoformat(start), date.fromisoformat(end) + timedelta(days=1)
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        # Only the windows starting in the range, not every partition since the source's first day
        # (decades of days for some sources: seconds of cron arithmetic for a one-day run).
        zone = ZoneInfo(partitions_def.timezone)
        window = dg.TimeWindow(datetime.combine(first, time(), zone), datetime.combine(after_last, time(), zone))
        candidates = [
            key
            for key in partitions_def.get_partition_keys_in_time_window(window)
            if partitions_def.has_partition_key(key)
        ]
    else:
        candidates = partitions_def.get_partition_keys()
    keys = []
    for key in candidates:
        window = partitions_def.time_window_for_partition_key(key)
        if window.start.date() >= first and window.end.date() <= after_last:
            keys.append(key)
    return keys


def resolve_selection(defs: dg.Definitions, selection: str) -> set[dg.AssetKey]:
    """Dagster's asset selection syntax; comma-separated items are a union (as ``dagster asset materialize``)."""
    graph = defs.resolve_asset_graph()
    items = [item.strip() for item in selection.split(",") if item.strip()] if "," in selection else selection
    try:
        keys = dg.AssetSelection.from_coercible(items).resolve(graph)
    except dg.DagsterError as error:
        known = ", ".join(sorted(k.to_user_string() for k in graph.materializable_asset_keys)[:12])
        raise CommandError(f"--select {selection!r}: {str(error).splitlines()[0]} (assets include {known} …)") from None
    keys = {key for key in keys if key in graph.materializable_asset_keys}
    if not keys:
        names = sorted(key.to_user_string() for key in graph.materializable_asset_keys)
        raise CommandError(catalog.refusal(selection, names, [g for g in graph.all_group_names if g]))
    # A multi-asset runs as a whole: select its siblings too instead of failing on a subset.
    return {
        sibling
        for key in keys
        for sibling in graph.get_execution_set_asset_and_check_keys(key)
        if isinstance(sibling, dg.AssetKey)
    }


def asset_catalog(defs: dg.Definitions) -> dict[str, dict]:
    """What ``odf_cli.catalog`` checks a selection against, per materializable asset."""
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): {
            "group": node.group_name,
            "tags": dict(node.tags),
            "kinds": sorted(node.kinds),
            "owners": list(node.owners),
        }
        for key in graph.materializable_asset_keys
        for node in [graph.get(key)]
    }


def default_selection(defs: dg.Definitions) -> tuple[set[dg.AssetKey], dict]:
    """What ``odf materialize`` runs without --select: the assets of the default pipeline's daily and
    weekly jobs (``odf_sensors.jobs`` selects them by partitioning, and so does this), and the job
    name per partitioning for messages."""
    from odf_sensors.jobs import DAILY_PIPELINE_JOB, WEEKLY_SALES_JOB

    graph = defs.resolve_asset_graph()
    # Only these two jobs: resolving every job would also resolve the ingest and other jobs.
    defined = {job.name for job in defs.jobs or ()}
    names = {
        defs.resolve_job_def(name).partitions_def: name
        for name in (DAILY_PIPELINE_JOB, WEEKLY_SALES_JOB)
        if name in defined
    }
    keys = {
        key
        for part in names
        for key in graph.asset_keys_for_partitions_def(part)
        if key in graph.materializable_asset_keys
    }
    return keys, names


def run_groups(
    defs: dg.Definitions, keys: set[dg.AssetKey]
) -> list[tuple[dg.PartitionsDefinition | None, list[dg.AssetKey]]]:
    """The keys grouped by partitioning, a group after every group it depends on."""
    graph = defs.resolve_asset_graph()
    groups: dict = {}
    for key in sorted(keys):
        groups.setdefault(graph.get(key).partitions_def, []).append(key)
    ancestors = {
        part: {a for key in members for a in graph.get_ancestor_asset_keys(key)} for part, members in groups.items()
    }
    ordered, remaining = [], dict(groups)
    while remaining:
        # Group A waits while another remaining group holds one of A's ancestors.
        ready = [
            p for p in remaining if not any(set(remaining[o]) & ancestors[p] for o in remaining if o is not p)
        ] or list(remaining)[:1]
        ordered.append((ready[0], remaining.pop(ready[0])))
    return ordered


def partition_batches(graph, members: list[dg.AssetKey], partition_keys: list[str]) -> list[list[str]]:
    """The runs a backfill would make: ranges as long as every member's BackfillPolicy allows
    (``single_run()``: the whole range in one run), one partition per run for assets without a policy."""
    policies = [graph.get(key).backfill_policy for key in members]
    if any(policy is None for policy in policies):
        size = 1
    else:
        size = min(policy.max_partitions_per_run or len(partition_keys) for policy in policies)
    return [partition_keys[index : index + size] for index in range(0, len(partition_keys), size)]


def _run(job, members, batch: list[str], instance, progress: Progress, log_level: str) -> dg.ExecuteInProcessResult:
    """One in-process run of ``members`` over ``batch`` (a range, one partition, or none)."""
    tags = {"odf/launched_by": "odf-cli"}
    partition_key = None
    if len(batch) == 1:
        partition_key = batch[0]
    elif batch:
        tags.update({PARTITION_RANGE_START_TAG: batch[0], PARTITION_RANGE_END_TAG: batch[-1]})
    run_id = str(uuid.uuid4())
    span = f" {batch[0]}..{batch[-1]}" if len(batch) > 1 else f" {batch[0]}" if batch else ""
    progress.heading(f"run {run_id}: {len(members)} asset(s){span}")
    EventFollower(instance, run_id, progress)
    return job.execute_in_process(
        instance=instance,
        run_id=run_id,
        tags=tags,
        partition_key=partition_key,
        asset_selection=members,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )


def follow_published_days(
    result: dg.ExecuteInProcessResult, job, members: list[dg.AssetKey], graph, instance, progress, log_level: str
) -> list[dg.ExecuteInProcessResult]:
    """After a range run where some days failed their checks: the failed assets published the days
    that passed (``publish_checked``), but Dagster skipped everything downstream of them. Run that
    downstream for the published days, in the same command, and list every skipped asset × day."""
    by_step = {key.to_python_identifier(): key for key in members}
    failed: dict[dg.AssetKey, list[str]] = {}
    published: set[str] | None = None
    for event in result.get_step_failure_events():
        key = by_step.get(event.step_key)
        data = event.step_failure_data.user_failure_data
        metadata = data.metadata if data is not None else {}
        if key is None or "published_days" not in metadata:
            return []  # a step that failed outright: nothing was published to follow
        failed[key] = list(metadata["failed_days"].value)
        days = set(metadata["published_days"].value)
        published = days if published is None else published & days
    downstream: list[dg.AssetKey] = []
    frontier = list(failed)
    while frontier:
        for child in graph.get(frontier.pop()).child_keys:
            if child in members and child not in failed and child not in downstream:
                downstream.append(child)
                frontier.append(child)
    if not downstream:
        return []
    for key, days in failed.items():
        for day in days:
            for child in downstream:
                progress.skipped_partition(child.to_user_string(), day, f"{key.to_user_string()} failed that day")
    if not published:
        return []
    ordered = [key for key in members if key in downstream]
    progress.heading(f"following the {len(published)} published day(s) downstream: {len(ordered)} asset(s)")
    return [_run(job, ordered, span, instance, progress, log_level) for span in day_spans(sorted(published))]


def _describe(partitions_def: dg.PartitionsDefinition) -> str:
    keys = partitions_def.get_partition_keys()
    return f"{keys[0]}..{keys[-1]}" if keys else "none"


def materialize(
    start: str,
    end: str,
    instance: dg.DagsterInstance,
    progress: Progress,
    selection: str | None = None,
    log_level: str = "WARNING",
) -> dict[str, list[str]]:
    """Runs the selection (default: the default pipeline) over [start, end]; returns stored URIs per asset."""
    try:
        # Not odf.definitions: importing it builds the definitions once more (the code location's own copy).
        from odf.location import build_definitions

        defs = build_definitions()
    except ValueError as error:  # a bad registry or setting: its message names the file, key path and expectation
        raise CommandError(str(error)) from None
    if instance.root_directory:
        catalog.write(Path(instance.root_directory), asset_catalog(defs))
    keys, labels = (resolve_selection(defs, selection), {}) if selection else default_selection(defs)
    written: dict[str, list[str]] = {}
    ran, skipped = 0, []
    graph = defs.resolve_asset_graph()
    for partitions_def, members in run_groups(defs, keys):
        names = labels.get(partitions_def) or ", ".join(key.to_user_string() for key in members)
        batches: list[list[str]] = [[]]  # unpartitioned: one run without a partition
        if partitions_def is not None:
            partition_keys = keys_in_range(partitions_def, start, end)
            if not partition_keys:
                skipped.append(
                    f"no partitions of {names} between {start} and {end} (valid: {_describe(partitions_def)})"
                )
                continue
            first = partitions_def.time_window_for_partition_key(partition_keys[0]).start.date().isoformat()
            last = (
                partitions_def.time_window_for_partition_key(partition_keys[-1]).end.date() - timedelta(days=1)
            ).isoformat()
            if (first, last) != (start, end):
                progress.heading(
                    f"warning: {start}..{end} clipped to {first}..{last} for {names} "
                    f"(partitions {_describe(partitions_def)})"
                )
            batches = partition_batches(graph, members, partition_keys)
        job = defs.resolve_implicit_job_def_def_for_assets(members)
        for batch in batches:
            result = _run(job, members, batch, instance, progress, log_level)
            ran += 1
            for event in result.get_asset_materialization_events():
                uri = event.materialization.metadata.get("uri")
                if uri is not None:
                    written.setdefault(event.asset_key.to_user_string(), []).append(str(uri.value))
            if not result.success:
                for follow_up in follow_published_days(result, job, members, graph, instance, progress, log_level):
                    for event in follow_up.get_asset_materialization_events():
                        uri = event.materialization.metadata.get("uri")
                        if uri is not None:
                            written.setdefault(event.asset_key.to_user_string(), []).append(str(uri.value))
                break
        if not result.success:
            break  # later groups depend on this one or would only repeat its error
    if not ran:
        raise CommandError("; ".join(skipped) or f"nothing to run between {start} and {end}")
    for message in skipped:
        progress.heading(f"warning: {message}; skipped")
    return written
