"""A daily clean-up job for what SIGKILLed or evicted runs leave behind: stale staging folders and
temporary files, and on S3, multipart uploads under ODF's prefix that never completed (S3 bills
their parts and never shows them). A bucket lifecycle rule does the S3 part too (helm/README.md)."""

import os
import tempfile
from pathlib import Path

import dagster as dg
import pydantic

from odf_core.leftovers import STALE_AFTER_SECONDS, abort_stale_multipart_uploads, sweep_stale
from odf_resources.constants import AGGREGATION_TAGS
from odf_resources.s3_storage import S3Storage
from odf_resources.storage import TEMP_PREFIX
from odf_resources.storage_resource import OdfStorage

MAINTENANCE_JOB = "odf_maintenance_job"
MAINTENANCE_SCHEDULE = "odf_maintenance_schedule"
# The raw asset's download folders (tempfile.TemporaryDirectory(prefix=...)) on this machine.
FETCH_DIR_PREFIX = "odf-fetch-"


class LeftoversConfig(dg.Config):
    max_age_hours: float = pydantic.Field(
        default=STALE_AFTER_SECONDS / 3600,
        ge=0,
        description="Only leftovers older than this are removed: younger ones may belong to a running write.",
    )


def _sweep_publish_temps(base: Path, max_age_seconds: float) -> list[Path]:
    """Local publishes copy to ``.tmp-…`` next to the destination before the rename: a kill leaves it."""
    removed = []
    for folder, dirs, _files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(TEMP_PREFIX)]  # .tmp-staging is swept on its own
        removed += sweep_stale(Path(folder), max_age_seconds, prefix=TEMP_PREFIX) if folder != str(base) else []
    return removed


@dg.op(name="clean_crash_leftovers")
def clean_crash_leftovers(context: dg.OpExecutionContext, config: LeftoversConfig, odf_storage: OdfStorage) -> None:
    """Removes stale temporary files and folders and aborts stale multipart uploads under ODF's prefix."""
    age = config.max_age_hours * 3600
    storage = odf_storage.get()
    removed = sweep_stale(Path(tempfile.gettempdir()), age, prefix=FETCH_DIR_PREFIX)
    removed += sweep_stale(storage.staging_dir(), age)
    aborted: list[str] = []
    if isinstance(storage, S3Storage):
        prefix = f"{storage.prefix}/" if storage.prefix else ""
        aborted = abort_stale_multipart_uploads(storage.client, storage.bucket, prefix, age)
    else:
        removed += _sweep_publish_temps(Path(storage.uri), age)
    context.log.info(
        f"removed {len(removed)} stale temporary file(s)/folder(s); aborted {len(aborted)} stale multipart upload(s)"
    )


# A light job: it queues with aggregation so the run coordinator's limits cover it too.
@dg.job(
    name=MAINTENANCE_JOB,
    tags=AGGREGATION_TAGS,
    description="Clean up what killed runs left behind (temp files, incomplete S3 uploads).",
)
def maintenance_job() -> None:
    clean_crash_leftovers()


def build_maintenance_schedule(default_status: dg.DefaultScheduleStatus) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=MAINTENANCE_SCHEDULE,
        job=maintenance_job,
        cron_schedule="17 3 * * *",
        default_status=default_status,
        description="Daily: remove crash leftovers older than a day.",
    )
