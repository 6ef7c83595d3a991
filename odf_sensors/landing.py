"""The landing-zone sensor: one iris predictions run per date whose landed files are new or changed.

State, not time: the cursor keeps, per date folder, a digest of its files' (key, version) pairs.
Every tick lists the whole landing prefix and compares digests, so

* a file written while a tick lists is simply in the next tick's listing (nothing is "before the
  cursor" and lost);
* unchanged dates produce no request, however many ticks pass;
* a late, replaced or deleted file changes its date's digest and requests that date again;
* the run key is ``date + digest``: a repeated tick (for example after a lost cursor update)
  requests the same key and Dagster starts no duplicate run.
"""

import hashlib
import json
from collections import defaultdict

import dagster as dg

from odf_assets.predictions.assets import FIRST_DATE, iris_daily_partitions, iris_predictions_job
from odf_assets.predictions.landing_keys import LANDING_PREFIX, LandingEntry
from odf_core.text import quote
from odf_resources.storage_resource import OdfStorage
from odf_sensors.landing_retry import RETRY_TAG, failed_dates_to_retry

LANDING_SENSOR = "iris_landing_sensor"
CURSOR_VERSION = 1
RUN_KEY_PREFIX = "iris-landing"
DIGEST_CHARS = 16


def date_digest(entries: list[LandingEntry]) -> str:
    """Changes whenever a file of the date is added, replaced or removed (order-independent)."""
    lines = sorted(f"{entry.key}\t{entry.version}" for entry in entries)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:DIGEST_CHARS]


def run_key(partition: str, digest: str) -> str:
    return f"{RUN_KEY_PREFIX}:{partition}:{digest}"


def parse_cursor(cursor: str | None, log) -> dict:
    """``{"dates": {date: digest}, "ignored": digest}``; an unreadable cursor restarts from scratch,
    which is safe because the deterministic run keys stop already-started runs from repeating."""
    if not cursor:
        return {"dates": {}, "ignored": ""}
    try:
        state = json.loads(cursor)
        if state.get("v") != CURSOR_VERSION or not isinstance(state.get("dates"), dict):
            raise ValueError(f"unknown cursor layout {sorted(state)}")
        return {"dates": dict(state["dates"]), "ignored": str(state.get("ignored", ""))}
    except (ValueError, AttributeError) as error:
        log.warning(f"{LANDING_SENSOR}: ignoring unreadable cursor ({error}); re-checking every date")
        return {"dates": {}, "ignored": ""}


def _log_problems(log, entries: list[LandingEntry]) -> None:
    for entry in entries:
        if entry.problem:
            log.warning(f"{LANDING_SENSOR}: skipping {quote(entry.key)}: {entry.problem}")


def group_by_partition(entries: list[LandingEntry]) -> tuple[dict[str, list[LandingEntry]], list[LandingEntry]]:
    """(entries per partition date, entries that can never be scored). Future dates are in neither:
    not partitions yet, they stay out of the cursor and are requested once they are."""
    by_date: dict[str, list[LandingEntry]] = defaultdict(list)
    ignored: list[LandingEntry] = []
    is_partition: dict[str, bool] = {}  # one lookup per date, not per file
    for entry in entries:
        if entry.date is None:
            ignored.append(entry)
        elif entry.date < FIRST_DATE:
            ignored.append(
                LandingEntry(
                    entry.key, entry.version, None, f"date {entry.date} is before the first partition {FIRST_DATE}"
                )
            )
        else:
            if entry.date not in is_partition:
                is_partition[entry.date] = iris_daily_partitions.has_partition_key(entry.date)
            if is_partition[entry.date]:
                by_date[entry.date].append(entry)
    return by_date, ignored


def build_iris_landing_sensor(minimum_interval_seconds: int) -> dg.SensorDefinition:
    return dg.sensor(
        name=LANDING_SENSOR,
        job=iris_predictions_job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests an iris predictions run for each landing date whose files are new or changed, "
        "and again (with backoff) for a date whose last run failed.",
    )(request_changed_dates)


def request_changed_dates(context: dg.SensorEvaluationContext, odf_storage: OdfStorage) -> dg.SensorResult:
    """Requests an iris predictions run for every landing date folder whose files are new or changed."""
    from odf_assets.predictions import store  # listing the landing zone: at tick time, not at load

    previous = parse_cursor(context.cursor, context.log)
    by_date, ignored = group_by_partition(store.landing_entries(odf_storage.get()))
    ignored_digest = date_digest(ignored) if ignored else ""
    if ignored_digest != previous["ignored"]:  # log once per change, not every tick
        _log_problems(context.log, ignored)

    digests = {partition: date_digest(entries) for partition, entries in sorted(by_date.items())}
    requests = []
    for partition, digest in digests.items():
        if previous["dates"].get(partition) == digest:
            continue
        _log_problems(context.log, by_date[partition])
        requests.append(
            dg.RunRequest(
                run_key=run_key(partition, digest),
                partition_key=partition,
                tags={"odf/landing_files": str(len(by_date[partition])), "odf/landing_digest": digest},
            )
        )
    requested = {request.partition_key for request in requests}
    for partition, attempt, failed_run in failed_dates_to_retry(context.instance, iris_predictions_job.name, digests):
        if partition in requested:
            continue
        context.log.info(f"{LANDING_SENSOR}: re-requesting {partition} (retry {attempt}) after failed run {failed_run}")
        requests.append(
            dg.RunRequest(
                run_key=f"{run_key(partition, digests[partition])}:retry{attempt}",
                partition_key=partition,
                tags={
                    "odf/landing_files": str(len(by_date[partition])),
                    "odf/landing_digest": digests[partition],
                    RETRY_TAG: str(attempt),
                },
            )
        )
    # Dates whose folder vanished drop out, so files landing there again are treated as new.
    cursor = json.dumps({"v": CURSOR_VERSION, "dates": digests, "ignored": ignored_digest}, sort_keys=True)
    if not requests:
        return dg.SensorResult(skip_reason=f"no new or changed files under {LANDING_PREFIX}/", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
