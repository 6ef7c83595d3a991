"""Schedules: each source's closed day, fetched at its registry ``fetch_cron``, and the closed week.

Asset-job chaining, not declarative automation: every source gets one job holding its raw asset and
everything downstream of it on the same daily partitions. A tick is then one run that fetches the
day and rebuilds its aggregates from what that run just wrote: one queue slot, one place to look
when a day fails, and a failed fetch never leaves aggregates half-rebuilt. Declarative automation
would spread a day over one run per asset level and needs the asset daemon to evaluate conditions.

Schedules never re-run old partitions: a tick asks for the partition that closed just before it
and skips (with a reason) when that day is outside the source's range, e.g. after its ``end_date``.
"""

from datetime import UTC, datetime

import dagster as dg

from odf_assets.sources.assets import raw_asset_key
from odf_assets.sources.registry import SourceSpec
from odf_core.signatures import shared_signature
from odf_resources.constants import ACQUISITION_TAGS
from odf_sensors.jobs import WEEKLY_SALES_JOB
from odf_sensors.scoped_jobs import define_scoped_asset_job

# Weekly runs at 04:00 on the partitions' first day (Monday): after Sunday's 01:30 fetch.
WEEKLY_HOUR = 4
SCHEDULE_TIMEZONE = "UTC"


def ingest_job_name(source: SourceSpec) -> str:
    return f"ingest_{source.name}"


def daily_schedule_name(source: SourceSpec) -> str:
    return f"{ingest_job_name(source)}_daily"


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
    """The ingest job's run tags; its schedule's requests carry them too, so each recorded tick names its queue."""
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


def build_source_job(source: SourceSpec, keys: list[dg.AssetKey]):
    """The source's ingest job over ``keys`` (from ``ingest_job_keys``), resolved against only its own
    assets: one job per source stays linear in the registry (odf_sensors/scoped_jobs.py)."""
    return define_scoped_asset_job(
        ingest_job_name(source),
        keys,
        description=f"Fetch one day of {source.name} and rebuild everything daily downstream of it.",
        tags=ingest_tags(source),
    )


def build_daily_schedule(
    source: SourceSpec,
    job,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    default_status: dg.DefaultScheduleStatus,
) -> dg.ScheduleDefinition:
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
        return dg.RunRequest(run_key=f"{source.name}:{key}", partition_key=key, tags=ingest_tags(source))

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
