"""What every asset computed from stored data declares: range backfills, the Parquet IO manager,
and the aggregation pool and queue."""

from __future__ import annotations

import dagster as dg

from odf_assets.partitions import DAILY_BACKFILL_POLICY
from odf_resources.constants import AGGREGATION_POOL, AGGREGATION_TAGS, IO_MANAGER_KEY

STORAGE_RETRIES = 3
# 1, 2, 4 s (each ± itself): long enough for throttling to ease, short enough not to hold a run.
STORAGE_RETRY_DELAY_SECONDS = 1.0


def storage_retry_policy() -> dg.RetryPolicy:
    """Every asset reading or writing storage retries transient storage failures (after botocore's own
    adaptive retries), with jitter so parallel steps do not retry in step. Data problems raise
    ``dg.Failure(allow_retries=False)`` and fail at once."""
    return dg.RetryPolicy(
        max_retries=STORAGE_RETRIES,
        delay=STORAGE_RETRY_DELAY_SECONDS,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def derived_asset_options(
    partitions_def: dg.PartitionsDefinition, backfill_policy: dg.BackfillPolicy = DAILY_BACKFILL_POLICY
) -> dict:
    """Keyword arguments of ``dg.asset`` shared by aggregates, consolidations, sales and analysis."""
    return {
        "partitions_def": partitions_def,
        "backfill_policy": backfill_policy,
        "io_manager_key": IO_MANAGER_KEY,
        "kinds": {"polars", "parquet"},
        "pool": AGGREGATION_POOL,
        "tags": AGGREGATION_TAGS,
        "retry_policy": storage_retry_policy(),
    }
