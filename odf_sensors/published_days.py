"""Downstream follows the days that passed, whoever launched the run.

A run over several days where some fail their ERROR checks still publishes the days that passed
(``odf_assets.publishing.publish_checked``), then fails; Dagster skips every step downstream of
the failed asset for the whole run, the good days included. ``odf materialize`` follows on in the
same command (``odf_cli.pipeline_run.follow_published_days``). For runs launched any other way (a
backfill from the UI or GraphQL, a schedule, a sensor) this run-failure sensor does the same:

* it reads the failed run's step failures: a step that failed through ``publish_checked`` names its
  ``failed_days`` and ``published_days`` in its metadata (a step that failed outright published
  nothing, so there is nothing to follow);
* the assets to follow are the ones the run planned downstream of the failed assets; the days are
  the days every failed asset published;
* it requests them in the source's ingest job (one run per span of consecutive days, a range run,
  run key = failed run and span, so a repeated tick starts nothing twice), tagged with the run it
  follows and the days it skips;
* the failed run gets tags naming every skipped asset × day and the follow-up it got, so the
  operator sees both on the run that failed.

Declarative automation does not cover this: its conditions ignore updates made by a run that also
targeted the asset (``executed_with_root_target``) and by ingest runs, so nothing would follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg

from odf_assets.partitions import day_spans
from odf_resources.constants import AGGREGATION_TAGS
from odf_resources.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

PUBLISHED_DAYS_SENSOR = "odf_published_days_sensor"
# On the failed run: what was skipped and what was requested instead.
SKIPPED_DOWNSTREAM_TAG = "odf/skipped_downstream"
FOLLOW_UP_TAG = "odf/follow_up"
# On each follow-up run: the run it follows and the days it leaves out.
FOLLOWS_RUN_TAG = "odf/follows_run"
SKIPPED_DAYS_TAG = "odf/skipped_days"
# Tag values stay short enough for the UI's run list; the sensor's log has every line.
MAX_TAG_CHARS = 1000


@dataclass
class FollowUp:
    """What a failed run leaves to follow: ``assets`` for ``days``, and why each skipped asset × day was skipped."""

    assets: list[dg.AssetKey] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (asset, day, reason)


def plan_follow_up(
    failures: Mapping[dg.AssetKey, tuple[list[str], list[str]]],
    planned: Iterable[dg.AssetKey],
    children: Mapping[dg.AssetKey, Iterable[dg.AssetKey]],
) -> FollowUp:
    """``failures``: per failed asset, its (failed days, published days). ``planned``: the assets
    the run targeted. The follow-up runs the planned assets downstream of a failed one on the days
    every failed asset published."""
    planned = set(planned)
    downstream: list[dg.AssetKey] = []
    frontier = list(failures)
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child in planned and child not in failures and child not in downstream:
                downstream.append(child)
                frontier.append(child)
    plan = FollowUp(assets=sorted(downstream, key=lambda key: key.to_user_string()))
    published: set[str] | None = None
    for key, (failed_days, published_days) in failures.items():
        for day in failed_days:
            for child in plan.assets:
                plan.skipped.append((child.to_user_string(), day, f"{key.to_user_string()} failed that day"))
        published = set(published_days) if published is None else published & set(published_days)
    plan.days = sorted(published or ()) if plan.assets else []
    return plan


def _span_text(days: list[str]) -> str:
    return ", ".join(f"{s[0]}..{s[-1]}" if len(s) > 1 else s[0] for s in day_spans(days))


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TAG_CHARS else text[: MAX_TAG_CHARS - 1] + "…"


def _publish_failures(step_failures, asset_by_step: Mapping[str, dg.AssetKey]):
    """Per asset, (failed days, published days) of the steps that failed through publish_checked;
    None when a step failed outright (it published nothing, its downstream has nothing to follow)."""
    failures: dict[dg.AssetKey, tuple[list[str], list[str]]] = {}
    for event in step_failures:
        data = event.step_failure_data.user_failure_data
        metadata = data.metadata if data is not None else {}
        key = asset_by_step.get(event.step_key)
        if key is None or "published_days" not in metadata:
            return None
        failures[key] = (list(metadata["failed_days"].value), list(metadata["published_days"].value))
    return failures or None


def build_published_days_sensor(
    assets: list[dg.AssetsDefinition],
    ingest_jobs: Mapping[str, tuple[object, list[dg.AssetKey]]],
    minimum_interval_seconds: int,
) -> dg.SensorDefinition:
    """``ingest_jobs``: job name → (the job, its assets from ``odf_sensors.schedules.ingest_job_keys``):
    follow-ups run there, like the schedule's runs."""
    asset_by_step = {asset.node_def.name: asset.key for asset in assets if len(asset.keys) == 1}
    children: dict[dg.AssetKey, list[dg.AssetKey]] = {}
    for asset in assets:
        for spec in asset.specs:
            for dep in spec.deps:
                children.setdefault(dep.asset_key, []).append(spec.key)
    jobs_by_asset: dict[dg.AssetKey, list[str]] = {}
    keys_by_job = {name: set(keys) for name, (_, keys) in ingest_jobs.items()}
    for name, keys in keys_by_job.items():
        for key in keys:
            jobs_by_asset.setdefault(key, []).append(name)

    @dg.run_failure_sensor(
        name=PUBLISHED_DAYS_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        request_jobs=[job for job, _ in ingest_jobs.values()],
        description="After a run that published some days and failed others (a backfill, a schedule, "
        "the UI), materializes what it skipped downstream for the published days, and names the "
        "skipped asset × day on the failed run.",
    )
    def odf_published_days_sensor(context: dg.RunFailureSensorContext):
        """Requests the skipped downstream of the published days; tags the failed run with what it skipped."""
        run = context.dagster_run
        failures = _publish_failures(context.get_step_failure_events(), asset_by_step)
        if failures is None:
            # None lets the same tick go on to the next failed run.
            return None
        records = context.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        planned = {record.event_log_entry.dagster_event.asset_key for record in records}
        plan = plan_follow_up(failures, planned, children)
        for asset, day, reason in plan.skipped:
            context.log.info(f"run {run.run_id}: skipped {asset} for {day}: {reason}")
        tags = {}
        if plan.skipped:
            tags[SKIPPED_DOWNSTREAM_TAG] = _bounded(
                "; ".join(f"{day}: {asset} ({reason})" for asset, day, reason in plan.skipped)
            )
        requests = []
        if plan.days:
            needed = [*plan.assets, *failures]
            job = next(
                (name for name in jobs_by_asset.get(plan.assets[0], []) if set(needed) <= keys_by_job[name]),
                None,
            )
            names = ", ".join(key.to_user_string() for key in plan.assets)
            if job is None:
                tags[FOLLOW_UP_TAG] = _bounded(f"not followed: no ingest job holds {names}")
                context.log.warning(f"run {run.run_id}: {tags[FOLLOW_UP_TAG]}; run them with odf materialize")
            else:
                skipped_days = sorted({day for _, day, _ in plan.skipped})
                tags[FOLLOW_UP_TAG] = _bounded(
                    f"{job}: {names} for {len(plan.days)} published day(s): {_span_text(plan.days)}"
                )
                for span in day_spans(plan.days):
                    range_tags = (
                        {PARTITION_RANGE_START_TAG: span[0], PARTITION_RANGE_END_TAG: span[-1]} if len(span) > 1 else {}
                    )
                    requests.append(
                        dg.RunRequest(
                            run_key=f"{run.run_id}:{span[0]}..{span[-1]}",
                            job_name=job,
                            asset_selection=plan.assets,
                            partition_key=span[0] if len(span) == 1 else None,
                            tags={
                                **AGGREGATION_TAGS,
                                FOLLOWS_RUN_TAG: run.run_id,
                                SKIPPED_DAYS_TAG: _bounded(_span_text(skipped_days)),
                                **range_tags,
                            },
                        )
                    )
        if tags:
            # On the failed run itself: the UI's run page and `odf status` show what it left out.
            context.instance.add_run_tags(run.run_id, tags)
        return requests or None

    return odf_published_days_sensor
