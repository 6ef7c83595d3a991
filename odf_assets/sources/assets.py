"""Factories: each active registry source becomes a daily raw asset plus its declared aggregates."""

import tempfile
from pathlib import Path

import dagster as dg

from odf_assets import checks
from odf_assets.automation import FOLLOW_DAILY_INPUTS
from odf_assets.derived import derived_asset_options
from odf_assets.k8s_config import HEAVY_ASSET_OP_TAGS
from odf_assets.owners import dagster_owner
from odf_assets.partitions import DAILY_BACKFILL_POLICY, daily_partitions
from odf_assets.publishing import emit_checked, publish_checked
from odf_assets.sources import transforms
from odf_assets.sources.acquisition import contract_for, stage_source
from odf_assets.sources.registry import AggregateSpec, SourceSpec
from odf_resources import settings
from odf_resources.constants import (
    ACQUISITION_POOL,
    ACQUISITION_TAGS,
    IO_MANAGER_KEY,
)
from odf_resources.parquet_io_manager import LazyFrame, StagedPartitions
from odf_resources.source_fetcher import SourceFetcher, SourceUnavailableError
from odf_resources.storage_resource import OdfStorage
from odf_resources.text import redact_url


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
    return (
        record.asset_materialization.tags.get("dagster/data_version")
        if record and record.asset_materialization
        else None
    )


def build_raw_asset(source: SourceSpec) -> dg.AssetsDefinition:
    key = raw_asset_key(source)
    origin = source.url_template or source.url or ""
    partitions_def = daily_partitions(source.start_date, source.end_date)
    contract = contract_for(source)

    @dg.asset(
        key=key,
        description=f"{source.description}\n\nLicence: {source.license}. Owner: {source.owner}.",
        group_name=source.group,
        owners=[dagster_owner(source.owner)],
        partitions_def=partitions_def,
        backfill_policy=DAILY_BACKFILL_POLICY,
        retry_policy=fetch_retry_policy(),
        io_manager_key=IO_MANAGER_KEY,
        kinds={"polars", "parquet"},
        pool=ACQUISITION_POOL,
        tags=ACQUISITION_TAGS,  # a label (odf trigger/backfill copy it into run tags); the limit is the pool
        # Downloads and validates whole source files: under k8s_job_executor its step gets a big pod.
        op_tags=HEAVY_ASSET_OP_TAGS,
        metadata={
            "partition_expr": transforms.PARTITION_COLUMN,
            "source_url": redact_url(origin),
            "license": source.license,
            "owner": source.owner,
            "format": source.format,
            "registry_file": str(source.registry_file),
        },
        check_specs=checks.check_specs(key, contract, partitions_def),
    )
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
            verdicts = {day: checks.verdicts(staged.findings[day], contract) for day in context.partition_keys}
            version = staged.data_version
            changed = version != previous_data_version(context, key)
            if not changed:
                context.log.info(f"{source.name}: content unchanged since the last materialization (sha256 {version})")
            if staged.rows_without_day:
                context.log.warning(
                    f"{source.name}: {staged.rows_without_day} row(s) have no {source.date_column} and belong to no day"
                )
            yield from publish_checked(
                context,
                verdicts=verdicts,
                value=StagedPartitions(staged.files),
                stage_days=lambda days, _directory: {day: staged.files[day] for day in days},
                storage=odf_storage.get(),
                data_version=version,
                metadata={
                    "content_sha256": version,
                    # Unchanged content keeps the data version, so downstream assets don't go stale.
                    "content_changed": changed,
                    "fetched_bytes": staged.fetched_bytes,
                    "files": dg.MetadataValue.json(staged.content_hashes),
                    "rows_without_day": staged.rows_without_day,
                },
            )

    return raw_source


def build_aggregate_asset(source: SourceSpec, aggregate: AggregateSpec) -> dg.AssetsDefinition:
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
        owners=[dagster_owner(source.owner)],
        ins={"raw": dg.AssetIn(key=raw_asset_key(source))},
        **derived_asset_options(partitions_def),
        metadata={"partition_expr": transforms.PARTITION_COLUMN, "group_by": list(aggregate.group_by)},
        check_specs=checks.check_specs(key, contract, partitions_def),
        automation_condition=FOLLOW_DAILY_INPUTS,
    )
    def declared_aggregate(context: dg.AssetExecutionContext, odf_storage: OdfStorage, raw: LazyFrame):
        yield from emit_checked(
            context, transforms.aggregate(raw, aggregate.group_by, metrics), contract, odf_storage.get()
        )

    return declared_aggregate


def build_source_assets(sources: list[SourceSpec]) -> list[dg.AssetsDefinition]:
    built = []
    for source in sources:
        if source.active:
            built.append(build_raw_asset(source))
            built.extend(build_aggregate_asset(source, aggregate) for aggregate in source.aggregates)
    return built
