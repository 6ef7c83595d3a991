"""The orchestration Definitions (per-source jobs, schedules, the run-failure sensor), merged into the
ODF code location by ``odf_assets.definitions``. The environment is read here only:

* ``ODF_SCHEDULES_DEFAULT_STATUS`` — ``running`` starts the schedules of sources that have not ended
  when the code location loads; default ``stopped`` (turn them on in the UI or with this variable).
  Sources whose ``end_date`` has passed, like the bundled sample, always default to stopped: their
  ticks would only skip.
* ``ODF_ALERT_WEBHOOK_URL`` — where the run-failure sensor POSTs alerts (optional; a secret).
* ``ODF_ALERT_WEBHOOK_TIMEOUT_SECONDS`` — per-POST timeout (default 5).
* ``ODF_SENSOR_MIN_INTERVAL_SECONDS`` — least time between run-failure sensor ticks (default 30).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg

from odf_assets.jobs import WEEKLY_SALES_JOB
from odf_assets.sources.assets import raw_asset_key
from odf_assets.sources.registry import SourceSpec
from odf_resources.settings import positive_number
from odf_sensors.maintenance import build_maintenance_schedule, maintenance_job
from odf_sensors.run_failure import build_run_failure_sensor
from odf_sensors.schedules import build_daily_schedule, build_source_job, build_weekly_schedule, source_has_ended

DEFAULT_SENSOR_INTERVAL_SECONDS = 30
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5.0


def schedules_default_status() -> dg.DefaultScheduleStatus:
    raw = os.environ.get("ODF_SCHEDULES_DEFAULT_STATUS", "stopped").strip().lower()
    if raw not in ("running", "stopped"):
        raise ValueError(f"ODF_SCHEDULES_DEFAULT_STATUS={raw!r}: expected 'running' or 'stopped'")
    return dg.DefaultScheduleStatus.RUNNING if raw == "running" else dg.DefaultScheduleStatus.STOPPED


def sensor_min_interval_seconds() -> int:
    return int(positive_number("ODF_SENSOR_MIN_INTERVAL_SECONDS", DEFAULT_SENSOR_INTERVAL_SECONDS, int))


def alert_webhook_url() -> str | None:
    return os.environ.get("ODF_ALERT_WEBHOOK_URL", "").strip() or None


def alert_webhook_timeout_seconds() -> float:
    return positive_number("ODF_ALERT_WEBHOOK_TIMEOUT_SECONDS", DEFAULT_WEBHOOK_TIMEOUT_SECONDS, float)


def build_orchestration_definitions(
    sources: list[SourceSpec], assets: list[dg.AssetsDefinition], now: datetime | None = None
) -> dg.Definitions:
    """Per-source ingest jobs with their daily schedules, the weekly sales schedule and the failure sensor."""
    now = now or datetime.now(UTC)
    status = schedules_default_status()
    by_key = {key: asset for asset in assets for key in asset.keys}
    jobs, schedules = [], []
    for source in sources:
        raw = by_key.get(raw_asset_key(source))
        if raw is None:  # inactive sources build no assets
            continue
        job = build_source_job(source, assets)
        ended = source_has_ended(source, now)
        jobs.append(job)
        schedules.append(
            build_daily_schedule(source, job, raw.partitions_def, dg.DefaultScheduleStatus.STOPPED if ended else status)
        )
    weekly = {a.partitions_def for a in assets if isinstance(a.partitions_def, dg.WeeklyPartitionsDefinition)}
    if len(weekly) == 1:  # odf_assets.jobs builds WEEKLY_SALES_JOB over exactly these assets
        partitions_def = weekly.pop()
        ended = partitions_def.end is not None and partitions_def.end <= now
        schedules.append(build_weekly_schedule(partitions_def, dg.DefaultScheduleStatus.STOPPED if ended else status))
    elif weekly:
        raise ValueError(
            f"{WEEKLY_SALES_JOB}: weekly assets with {len(weekly)} different partitionings cannot share one schedule"
        )
    failure_sensor = build_run_failure_sensor(
        alert_webhook_url(), alert_webhook_timeout_seconds(), sensor_min_interval_seconds()
    )
    jobs.append(maintenance_job)  # its odf_storage resource comes with the predictions definitions
    schedules.append(build_maintenance_schedule(status))
    return dg.Definitions(jobs=jobs, schedules=schedules, sensors=[failure_sensor])
