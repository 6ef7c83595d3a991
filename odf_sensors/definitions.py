"""The orchestration layer's Definitions: jobs, schedules, sensors and the step executor.

Merged into the code location by ``odf.definitions``; every setting comes from
``odf_resources.settings``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from odf_assets.sales.definitions import default_source
from odf_assets.sources.assets import raw_asset_key
from odf_assets.sources.registry import SourceSpec
from odf_resources import settings
from odf_sensors.automation import build_automation_sensor
from odf_sensors.executor import step_executor
from odf_sensors.jobs import WEEKLY_SALES_JOB, build_default_pipeline_jobs
from odf_sensors.landing import build_iris_landing_sensor
from odf_sensors.lineage import build_lineage_sensor
from odf_sensors.maintenance import build_maintenance_schedule, maintenance_job
from odf_sensors.published_days import build_published_days_sensor
from odf_sensors.queue_state import build_queue_state_sensor
from odf_sensors.run_failure import build_run_failure_sensor
from odf_sensors.schedules import (
    build_daily_schedule,
    build_ingest_jobs,
    build_weekly_schedule,
    ingest_job_keys,
    ingest_job_name,
    source_has_ended,
)


def _status(ended: bool, running: bool) -> dg.DefaultScheduleStatus:
    """Sources whose ``end_date`` has passed, like the bundled sample, always default to stopped:
    their ticks would only skip."""
    return dg.DefaultScheduleStatus.RUNNING if running and not ended else dg.DefaultScheduleStatus.STOPPED


def defs(sources: list[SourceSpec], assets: list[dg.AssetsDefinition], now: datetime | None = None) -> dg.Definitions:
    """Ingest jobs (one per daily range) with each source's daily schedule, the default pipeline's jobs and weekly
    schedule, the maintenance job, and every sensor. ``assets``: the sources, sales and analysis
    assets (consolidations and predictions have their own triggers)."""
    now = now or datetime.now(UTC)
    running = settings.schedules_default_running()
    by_key = {key: asset for asset in assets for key in asset.keys}
    jobs, schedules = [], []
    ingest_keys = ingest_job_keys(sources, assets)
    # name → job and its assets: what the schedules run, and where the published-days sensor sends follow-ups
    ingest_jobs = build_ingest_jobs(sources, ingest_keys)
    jobs += [job for job, _ in ingest_jobs.values()]
    for source in sources:
        if source.name not in ingest_keys:  # inactive sources build no assets
            continue
        raw = by_key[raw_asset_key(source)]
        job, _ = ingest_jobs[ingest_job_name(source)]
        schedules.append(
            build_daily_schedule(
                source,
                job,
                ingest_keys[source.name],
                raw.partitions_def,
                _status(source_has_ended(source, now), running),
            )
        )
    default = default_source(sources)
    if default is not None:
        pipeline_jobs = build_default_pipeline_jobs(assets, default)
        jobs += pipeline_jobs
        weekly = next((job for job in pipeline_jobs if job.name == WEEKLY_SALES_JOB), None)
        if weekly is not None:
            schedules.append(build_weekly_schedule(weekly, _status(source_has_ended(default, now), running)))
    jobs.append(maintenance_job)
    schedules.append(build_maintenance_schedule(_status(False, running)))
    sensors = [
        build_automation_sensor(settings.automation_interval_seconds()),
        build_iris_landing_sensor(settings.landing_sensor_interval_seconds()),
        build_run_failure_sensor(
            settings.alert_webhook_url(),
            settings.alert_webhook_timeout_seconds(),
            settings.sensor_min_interval_seconds(),
        ),
        build_lineage_sensor(settings.lineage_sensor_interval_seconds()),
        build_published_days_sensor(assets, ingest_jobs, settings.automation_interval_seconds()),
        build_queue_state_sensor(settings.queue_state_interval_seconds()),
    ]
    # In the cluster every step gets its own pod, sized by its op tags (odf_assets/k8s_config.py).
    return dg.Definitions(jobs=jobs, schedules=schedules, sensors=sensors, executor=step_executor())
