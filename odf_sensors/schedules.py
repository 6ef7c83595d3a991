"""Schedules: each source's closed day, fetched at its registry ``fetch_cron``, and the closed week.

Asset-job chaining, not declarative automation: a source's tick is one run of its raw asset and
everything downstream of it on the same daily partitions. It fetches the day and rebuilds its
aggregates from what that run just wrote: one queue slot, one place to look when a day fails, and a
failed fetch never leaves aggregates half-rebuilt. Declarative automation would spread a day over
one run per asset level and needs the asset daemon to evaluate conditions.

One ingest job per daily range, not per source: every source whose days run over the same range
(same ``start_date`` and ``end_date``, so the same partitions definition, which a Dagster job needs)
shares the job ``ingest_daily_from_<start>[_to_<last day>]``, and the source's schedule
``ingest_<source>_daily`` asks for a run of that job with an asset selection of the source's assets
and its ``odf/source`` tag. Dagster builds a job's ops, resolves and snapshots it once: one job per
source made loading the code location cost milliseconds per source on top of its assets.

Schedules never re-run old partitions: a tick asks for the partition that closed just before it
and skips (with a reason) when that day is outside the source's range, e.g. after its ``end_date``.
"""

from datetime import UTC, datetime

import dagster as dg

from odf_assets.automation import INGEST_RUN_TAG
from odf_assets.sources.assets import raw_asset_key
from odf_assets.sources.registry import SourceSpec
from odf_core.signatures import shared_signature
from odf_resources.constants import ACQUISITION_TAGS
from odf_sensors.jobs import WEEKLY_SALES_JOB
from odf_sensors.scoped_jobs import ScopedAssetJobDefinition, define_scoped_asset_job

# Weekly runs at 04:00 on the partitions' first day (Monday): after Sunday's 01:30 fetch.
WEEKLY_HOUR = 4
SCHEDULE_TIMEZONE = "UTC"


def ingest_job_name(source: SourceSpec) -> str:
    """The ingest job holding the source's assets: the one of every source on the same daily range."""
    name = f"ingest_daily_from_{source.start_date:%Y%m%d}"
    return f"{name}_to_{source.end_date:%Y%m%d}" if source.end_date else name


def daily_schedule_name(source: SourceSpec) -> str:
    return f"ingest_{source.name}_daily"


def closed_partition(partitions_def: dg.TimeWindowPartitionsDefinition, tick: datetime) -> str | None:
    """The partition whose window ended last before ``tick``, or None when it is outside the definition."""
    with dg.partition_loading_context(effective_dt=tick):
        current = partitions_def.get_partition_key_for_timestamp(tick.timestamp())
        window = partitions_def.get_prev_partition_window(
            partitions_def.start_time_for_partition_key(current), respect_bounds=False
        )
        key = window.start.strftime(partitions_def.fmt)
        return key if partitions_def.has_partition_key(key) else None


def ingest_tags(source: SourceSpec) -> dict[str, str]:
    """A source's ingest runs' tags (its schedule's requests carry them, so each recorded tick names
    its queue and its source); the shared job itself carries the queue tag."""
    return {**ACQUISITION_TAGS, "odf/source": source.name}


def ingest_job_keys(sources: list[SourceSpec], assets: list[dg.AssetsDefinition]) -> dict[str, list[dg.AssetKey]]:
    """Per source name: its raw asset and the assets downstream of it that share its daily partitions
    (weekly ones have their own job). One pass over the graph for all sources, so building every
    source's job costs time linear in the registry, not in sources x assets."""
    partitions = {spec.key: asset.partitions_def for asset in assets for spec in asset.specs}
    children: dict[dg.AssetKey, list[dg.AssetKey]] = {}
    for asset in assets:
        for spec in asset.specs:
            for dep in spec.deps:
                children.setdefault(dep.asset_key, []).append(spec.key)
    selected = {}
    for source in sources:
        raw = raw_asset_key(source)
        if raw not in partitions:  # inactive sources build no assets
            continue
        downstream, todo = {raw}, [raw]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in downstream:
                    downstream.add(child)
                    todo.append(child)
        same = [key for key in downstream if partitions[key] == partitions[raw]]
        selected[source.name] = sorted(same, key=lambda key: key.to_user_string())
    return selected


def build_ingest_jobs(
    sources: list[SourceSpec], keys_by_source: dict[str, list[dg.AssetKey]]
) -> dict[str, tuple[ScopedAssetJobDefinition, list[dg.AssetKey]]]:
    """Job name → (the ingest job, its assets): one job per daily range over every source on it and
    what is daily downstream of them (``keys_by_source`` from ``ingest_job_keys``), resolved against
    only its own assets (odf_sensors/scoped_jobs.py)."""
    grouped: dict[str, list[SourceSpec]] = {}
    for source in sources:
        if source.name in keys_by_source:
            grouped.setdefault(ingest_job_name(source), []).append(source)
    jobs = {}
    for name, members in grouped.items():
        keys = sorted({key for s in members for key in keys_by_source[s.name]}, key=lambda key: key.to_user_string())
        first = members[0]
        days = f"{first.start_date}" + (f" to {first.end_date}" if first.end_date else " on")
        job = define_scoped_asset_job(
            name,
            keys,
            description=f"Ingest of the sources with days from {days} ({len(members)} source(s)): each "
            "source's schedule runs it for one day with an asset selection of the source's raw asset and "
            "everything daily downstream of it (tag odf/source).",
            tags={**ACQUISITION_TAGS, INGEST_RUN_TAG: name},
        )
        jobs[name] = (job, keys)
    return jobs


def build_daily_schedule(
    source: SourceSpec,
    job,
    keys: list[dg.AssetKey],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    default_status: dg.DefaultScheduleStatus,
) -> dg.ScheduleDefinition:
    """At the source's ``fetch_cron``: a run of the shared ingest ``job`` selecting ``keys`` (the
    source's raw asset and what is daily downstream of it) for the day that closed."""

    @dg.schedule(
        name=daily_schedule_name(source),
        job=job,
        cron_schedule=source.fetch_cron,
        execution_timezone=SCHEDULE_TIMEZONE,
        default_status=default_status,
        description=f"At {source.fetch_cron} UTC, materializes yesterday's partition of {source.name} "
        "and its daily aggregates.",
    )
    @shared_signature
    def daily_source_schedule(context: dg.ScheduleEvaluationContext):
        """Requests the day that closed before the tick (run key ``source:day``: a repeated tick starts
        nothing twice), or skips when it is outside the source's range."""
        tick = context.scheduled_execution_time or datetime.now(UTC)
        key = closed_partition(partitions_def, tick)
        if key is None:
            return dg.SkipReason(
                f"{source.name}: no partition closed before {tick.isoformat()} (range {_range(partitions_def)})"
            )
        return dg.RunRequest(
            run_key=f"{source.name}:{key}", partition_key=key, asset_selection=keys, tags=ingest_tags(source)
        )

    return daily_source_schedule


def build_weekly_schedule(weekly_job, default_status: dg.DefaultScheduleStatus):
    """Dagster's schedule for a partitioned job: Mondays at 04:00 in the partitions' zone (UTC), after
    Sunday's daily partition is fetched at the sources' default 01:30 ``fetch_cron``, it requests the
    week that just closed (run key = the week, so a repeated tick starts nothing twice)."""
    return dg.build_schedule_from_partitioned_job(
        weekly_job,
        name=f"{WEEKLY_SALES_JOB}_schedule",
        hour_of_day=WEEKLY_HOUR,
        default_status=default_status,
        description="Mondays at 04:00 UTC, materializes the weekly sales assets for the week that just closed.",
    )


def _range(partitions_def: dg.TimeWindowPartitionsDefinition) -> str:
    start = partitions_def.start.strftime(partitions_def.fmt)
    end = partitions_def.end.strftime(partitions_def.fmt) + " exclusive" if partitions_def.end else "open-ended"
    return f"{start}..{end}"


def source_has_ended(source: SourceSpec, today: datetime) -> bool:
    return source.end_date is not None and source.end_date < today.date()
