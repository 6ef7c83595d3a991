"""Factories: each active registry source becomes a daily raw asset plus its declared aggregates."""

import dataclasses
import functools
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import dagster as dg

from odf_assets import checks
from odf_assets.automation import FOLLOW_DAILY_INPUTS
from odf_assets.derived import derived_asset_options
from odf_assets.deterministic import naming_inexact_amounts
from odf_assets.k8s_config import HEAVY_ASSET_OP_TAGS
from odf_assets.partitions import DAILY_BACKFILL_POLICY, daily_partitions
from odf_assets.publishing import emit_checked, publish_checked
from odf_assets.sources import transforms
from odf_assets.sources.acquisition import contract_for, stage_source
from odf_assets.sources.registry import AggregateSpec, SourceSpec
from odf_core.signatures import shared_signature
from odf_core.text import redact_url
from odf_resources import settings
from odf_resources.constants import (
    ACQUISITION_POOL,
    ACQUISITION_TAGS,
    IO_MANAGER_KEY,
)
from odf_resources.parquet_io_manager import LazyFrame, StagedPartitions, stored_partition, stored_row_counts
from odf_resources.source_fetcher import SourceFetcher, SourceUnavailableError
from odf_resources.storage import Storage, safe_key
from odf_resources.storage_resource import OdfStorage


def fetch_retry_policy() -> dg.RetryPolicy:
    """Only for sources that stayed unavailable through the fetcher's own retries; bad data fails at once."""
    return dg.RetryPolicy(
        max_retries=2, delay=settings.retry_delay_seconds(), backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    )


def raw_asset_key(source: SourceSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.name])


def aggregate_asset_key(source: SourceSpec, aggregate: AggregateSpec) -> dg.AssetKey:
    return dg.AssetKey(["aggregates", source.name, aggregate.name])


def previous_data_version(context: dg.AssetExecutionContext, key: dg.AssetKey) -> str | None:
    """The data version this partition was last materialized with (single-partition runs only)."""
    if len(context.partition_keys) != 1:
        return None
    record = context.instance.get_latest_data_version_record(key, is_source=False, partition_key=context.partition_key)
    # A materialization reported without a run (the UI's "Report materialization") may carry no tags.
    return (
        (record.asset_materialization.tags or {}).get("dagster/data_version")
        if record and record.asset_materialization
        else None
    )


# One policy per cron expression: building one walks about a thousand cron ticks (Dagster checks the
# smallest interval), most of loading a large registry whose sources share a few fetch_crons. The
# policy is an immutable record, so every source with that cron can share it.
@functools.cache
def freshness_policy(deadline_cron: str | None) -> dg.FreshnessPolicy | None:
    """Fresh while the asset materialized within one interval before each tick of ``deadline_cron``
    (by default the source's fetch_cron): a source turns red once a whole fetch cycle brought nothing."""
    if deadline_cron is None:
        return None
    ticks = dg_cron_ticks(deadline_cron)
    interval = min(later - earlier for earlier, later in zip(ticks, ticks[1:], strict=False))
    return dg.FreshnessPolicy.cron(deadline_cron=deadline_cron, lower_bound_delta=interval)


def dg_cron_ticks(expression: str, count: int = 8) -> list:
    """``count`` consecutive ticks of ``expression`` (UTC, the zone of ODF's schedules), from a fixed
    start: a cron's shortest interval does not depend on when it is asked."""
    from datetime import datetime

    windows = dg.TimeWindowPartitionsDefinition(
        cron_schedule=expression, start=datetime(2024, 1, 1), fmt="%Y-%m-%d-%H:%M", timezone="UTC"
    )
    window = windows.get_first_partition_window()
    ticks = [window.start]
    while window is not None and len(ticks) < count:
        ticks.append(window.end)
        window = windows.get_next_partition_window(window.end)
    return ticks


# Where rows whose day cannot be read are kept: quarantine/<source>/<sha256 of the fetched file>.parquet.
QUARANTINE_PREFIX = "quarantine"


def publish_quarantine(source: SourceSpec, staged, storage: Storage) -> list[str]:
    """Publish each fetched file's undated rows (line, reason, fields) where the operator can query
    them; the same fetched bytes give the same object. Returns their URIs."""
    uris = []
    for sha256, local in sorted(staged.quarantined.items()):
        key = safe_key(QUARANTINE_PREFIX, source.name, f"{sha256}.parquet")
        if not storage.holds(local, key):
            storage.publish_file(local, key)
        uris.append(storage.uri_for(key))
    return uris


def guard_stored_days(
    context: dg.AssetExecutionContext, source: SourceSpec, staged, verdicts: dict, storage
) -> dict[str, dict]:
    """Refuse (fail at ERROR, keep the stored object) every day a fetch would empty or shrink
    beyond ``checks.max_shrink_fraction``; with the operator's run tag, let them through and
    return what was replaced, by day."""
    from odf_assets.sources import stored_days  # run time only

    key = raw_asset_key(source)
    new_rows = {
        day: int((staged.findings[day].measured or {}).get("rows", 0) or 0)
        for day in context.partition_keys
        if day in staged.files
    }
    stored = stored_row_counts(storage, key.path, transforms.PARTITION_COLUMN, list(new_rows))
    found = stored_days.shrinks(new_rows, stored, source.max_shrink_fraction)
    if not found:
        return {}
    if stored_days.replacement_allowed(context.run.tags):
        replaced = {s.day: {"stored_rows": s.stored_rows, "new_rows": s.new_rows} for s in found}
        context.log.warning(
            f"{source.name}: run tag {stored_days.REPLACE_STORED_DAYS_TAG}=true: replacing stored days with fewer "
            f"rows: {replaced}"
        )
        return replaced
    for shrink in found:
        kept = stored_partition(storage, key.path, transforms.PARTITION_COLUMN, shrink.day)
        evidence = stored_days.refusal(shrink, kept.sha256, source.max_shrink_fraction)
        already = [v for v in verdicts[shrink.day] if v.check == checks.NON_EMPTY_PARTITION and v.blocks]
        if already:  # an empty day of a source that has no empty days: its own reason first
            evidence = f"{already[0].evidence}; {evidence}"
        refused = checks.Verdict(
            checks.NON_EMPTY_PARTITION,
            False,
            checks.ERROR,
            {
                "row_count": shrink.new_rows,
                "stored_rows": kept.rows,
                "kept_sha256": kept.sha256,
                "empty_days_allowed": source.allow_empty_days,
            },
            evidence,
        )
        verdicts[shrink.day] = [refused if v.check == checks.NON_EMPTY_PARTITION else v for v in verdicts[shrink.day]]
    return {}


def build_raw_asset(
    source: SourceSpec, owners: Sequence[str] = (), retry_policy: dg.RetryPolicy | None = None
) -> dg.AssetsDefinition:
    key = raw_asset_key(source)
    origin = source.url_template or source.url or ""
    partitions_def = daily_partitions(source.start_date, source.end_date)
    contract = contract_for(source)

    @dg.asset(
        key=key,
        description=f"{source.description}\n\nLicence: {source.license}. Published by {source.owner}.",
        group_name=source.group,
        partitions_def=partitions_def,
        backfill_policy=DAILY_BACKFILL_POLICY,
        retry_policy=retry_policy or fetch_retry_policy(),
        io_manager_key=IO_MANAGER_KEY,
        kinds={"polars", "parquet"},
        pool=ACQUISITION_POOL,
        freshness_policy=freshness_policy(source.freshness_cron),
        owners=owners,
        tags=ACQUISITION_TAGS,  # a label (odf trigger/backfill copy it into run tags); the limit is the pool
        # Downloads and validates whole source files: under k8s_job_executor its step gets a big pod.
        op_tags=HEAVY_ASSET_OP_TAGS,
        metadata={
            "partition_expr": transforms.PARTITION_COLUMN,
            "source_url": redact_url(origin),
            "license": source.license,
            "publisher": source.owner,  # upstream; the Dagster owner is the pipeline's team
            "format": source.format,
            "registry_file": str(source.registry_file),
        },
        check_specs=checks.check_specs(key, contract, partitions_def),
    )
    @shared_signature
    def raw_source(context: dg.AssetExecutionContext, source_fetcher: SourceFetcher, odf_storage: OdfStorage):
        window = context.partition_time_window
        # Downloads and staged files live until the IO manager has published them.
        with tempfile.TemporaryDirectory(prefix="odf-fetch-") as workdir:
            try:
                staged = stage_source(source, source_fetcher, window.start.date(), window.end.date(), Path(workdir))
            except SourceUnavailableError as error:
                # The operator's problem, not ours: the reason and what happens next, no stack trace of ODF's.
                raise dg.Failure(
                    description=f"{source.name}: source unavailable: {error}",
                    metadata={
                        "source": source.name,
                        "partitions": f"{context.partition_keys[0]}..{context.partition_keys[-1]}",
                        "next": "retried per the asset's RetryPolicy; later, re-run the partitions",
                    },
                    allow_retries=True,
                ) from None
            fetched_days = [day for day in context.partition_keys if day not in staged.fetch_failures]
            verdicts = {day: checks.verdicts(staged.findings[day], contract) for day in fetched_days}
            storage = odf_storage.get()
            replaced = guard_stored_days(context, source, staged, verdicts, storage)
            version = staged.data_version
            changed = version != previous_data_version(context, key)
            if not changed:
                context.log.info(f"{source.name}: content unchanged since the last materialization (sha256 {version})")
            quarantine = publish_quarantine(source, staged, storage)
            if staged.rows_without_day:
                context.log.warning(
                    f"{source.name}: {staged.rows_without_day} row(s) have no readable {source.date_column} and "
                    f"belong to no day: quarantined with their line and reason in {', '.join(quarantine)}"
                    + (" (checks.undated_rows: fail, so every day fails)" if source.undated_rows == "fail" else "")
                )
                note = {"quarantined_rows": staged.rows_without_day, "quarantine": dg.MetadataValue.json(quarantine)}
                verdicts = {
                    day: [
                        dataclasses.replace(v, metadata={**v.metadata, **note}) if v.check == checks.ROWS_CONFORM else v
                        for v in day_verdicts
                    ]
                    for day, day_verdicts in verdicts.items()
                }
            yield from publish_checked(
                context,
                verdicts=verdicts,
                value=StagedPartitions(staged.files),
                stage_days=lambda days, _directory: {day: staged.files[day] for day in days},
                storage=storage,
                data_version=version,
                fetch_failures=staged.fetch_failures,
                metadata={
                    "content_sha256": version,
                    # Unchanged content keeps the data version, so downstream assets don't go stale.
                    "content_changed": changed,
                    "fetched_bytes": staged.fetched_bytes,
                    "files": dg.MetadataValue.json(staged.content_hashes),
                    "rows_without_day": staged.rows_without_day,
                    **({"quarantine": dg.MetadataValue.json(quarantine)} if quarantine else {}),
                    **({"replaced_stored_days": dg.MetadataValue.json(replaced)} if replaced else {}),
                },
            )

    return raw_source


def build_aggregate_asset(
    source: SourceSpec, aggregate: AggregateSpec, owners: Sequence[str] = ()
) -> dg.AssetsDefinition:
    key = aggregate_asset_key(source, aggregate)
    contract = checks.Contract(
        key=(transforms.PARTITION_COLUMN, *aggregate.group_by), allow_empty=source.allow_empty_days
    )
    metrics = [(m.agg, m.column, m.name) for m in aggregate.metrics]
    partitions_def = daily_partitions(source.start_date, source.end_date)

    @dg.asset(
        key=key,
        description=aggregate.description
        or f"Daily {', '.join(m.name for m in aggregate.metrics)} of {source.name}"
        + (f" by {', '.join(aggregate.group_by)}" if aggregate.group_by else ""),
        group_name=source.group,
        ins={"raw": dg.AssetIn(key=raw_asset_key(source))},
        **derived_asset_options(partitions_def),
        metadata={"partition_expr": transforms.PARTITION_COLUMN, "group_by": list(aggregate.group_by)},
        check_specs=checks.check_specs(key, contract, partitions_def),
        automation_condition=FOLLOW_DAILY_INPUTS,
        owners=owners,
    )
    @shared_signature
    def declared_aggregate(context: dg.AssetExecutionContext, odf_storage: OdfStorage, raw: LazyFrame):
        window = context.partition_time_window
        days = [window.start.date() + timedelta(days=n) for n in range((window.end - window.start).days)]
        result = transforms.aggregate(raw, aggregate.group_by, metrics, days, source.decimals)
        summed = {m.column for m in aggregate.metrics if m.agg in ("sum", "mean")}
        amounts = {column: places for column, places in source.decimals.items() if column in summed}
        with naming_inexact_amounts(
            raw, amounts, f"{raw_asset_key(source).to_user_string()} (source {source.name})", source.key
        ):
            yield from emit_checked(context, result, contract, odf_storage.get())

    return declared_aggregate


def build_source_assets(sources: list[SourceSpec], owners: Sequence[str] = ()) -> list[dg.AssetsDefinition]:
    """``owners`` are set here rather than mapped over afterwards: a registry's thousands of assets
    would each be built twice. The fetch retry policy is read from the settings once for them all."""
    built = []
    retry_policy = fetch_retry_policy()
    for source in sources:
        if source.active:
            built.append(build_raw_asset(source, owners, retry_policy))
            built.extend(build_aggregate_asset(source, aggregate, owners) for aggregate in source.aggregates)
    return built
