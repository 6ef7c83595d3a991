"""Re-requests for landing dates whose last predictions run failed, with bounded backoff.

The landing sensor requests a date when its files change; a run that fails on unchanged files (an
unreadable model, storage briefly down) would otherwise leave the date unpredicted until someone
re-runs it. Each retry doubles the wait after the failed run's end (``ODF_LANDING_RETRY_SECONDS``,
default 60, capped at 30 minutes) and stops after ``MAX_RETRIES``: then the failure is left to the
run-failure alert and the operator.
"""

from __future__ import annotations

import time

import dagster as dg

from odf_resources import settings
from odf_resources.run_tags import PARTITION_TAG, WILL_RETRY_TAG

RETRY_TAG = "odf/landing_retry"
DIGEST_TAG = "odf/landing_digest"
MAX_RETRIES = 5
MAX_DELAY_SECONDS = 1800
RECENT_RUNS = 200


def retry_delay(attempt: int, base: float) -> float:
    return min(base * 2 ** (attempt - 1), MAX_DELAY_SECONDS)


def failed_dates_to_retry(
    instance: dg.DagsterInstance, job_name: str, digests: dict[str, str], now: float | None = None
) -> list[tuple[str, int, str]]:
    """(date, attempt, failed run id) for dates whose latest run failed on the files they still hold
    and whose backoff has passed."""
    now = time.time() if now is None else now
    base = settings.landing_retry_seconds()
    latest: dict[str, dg.RunRecord] = {}
    for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job_name), limit=RECENT_RUNS):  # newest first
        partition = record.dagster_run.tags.get(PARTITION_TAG)
        if partition in digests and partition not in latest:
            latest[partition] = record
    due = []
    for partition, record in sorted(latest.items()):
        run = record.dagster_run
        tags = run.tags
        if run.status != dg.DagsterRunStatus.FAILURE or tags.get(DIGEST_TAG) != digests[partition]:
            continue  # fine, still running, or files changed since (the change itself requests a run)
        if tags.get(WILL_RETRY_TAG) == "true":
            continue  # Dagster's own run retry is on its way
        attempt = int(tags.get(RETRY_TAG, "0")) + 1
        ended = record.end_time or record.update_timestamp.timestamp()
        if attempt <= MAX_RETRIES and now - ended >= retry_delay(attempt, base):
            due.append((partition, attempt, run.run_id))
    return due
