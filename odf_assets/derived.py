"""What every asset computed from stored data declares: range backfills, the Parquet IO manager,
and the aggregation pool and queue."""

from __future__ import annotations

import dagster as dg

from odf_assets.partitions import DAILY_BACKFILL_POLICY
from odf_resources.constants import AGGREGATION_POOL, AGGREGATION_TAGS, IO_MANAGER_KEY


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
    }
