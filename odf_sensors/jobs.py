"""Asset jobs of the default pipeline. A job runs one partition (range) of one partitioning, so each
job selects only assets sharing the default source's partitions; the sources' daily schedules run
the ingest jobs, one per daily range (odf_sensors/schedules.py)."""

from __future__ import annotations

import dagster as dg

from odf_assets.partitions import daily_partitions, weekly_partitions
from odf_assets.sources.registry import SourceSpec
from odf_resources.constants import ACQUISITION_TAGS, AGGREGATION_TAGS

DAILY_PIPELINE_JOB = "daily_pipeline"
WEEKLY_SALES_JOB = "weekly_sales"


def build_jobs(
    assets: list[dg.AssetsDefinition], daily: dg.PartitionsDefinition | None, weekly: dg.PartitionsDefinition | None
):
    """``daily_pipeline`` over the assets partitioned like ``daily``; ``weekly_sales`` likewise."""
    jobs = []
    daily_keys = [a.key for a in assets if daily is not None and a.partitions_def == daily]
    weekly_keys = [a.key for a in assets if weekly is not None and a.partitions_def == weekly]
    if daily_keys:
        # Starts with acquisition; a whole day's pipeline holds one acquisition slot.
        jobs.append(
            dg.define_asset_job(
                DAILY_PIPELINE_JOB,
                selection=daily_keys,
                tags=ACQUISITION_TAGS,
                description="The default source's daily assets: raw, aggregates, sales and analysis.",
            )
        )
    if weekly_keys:
        jobs.append(
            dg.define_asset_job(
                WEEKLY_SALES_JOB,
                selection=weekly_keys,
                tags=AGGREGATION_TAGS,
                description="The weekly sales aggregates, trends and top days.",
            )
        )
    return jobs


def build_default_pipeline_jobs(assets: list[dg.AssetsDefinition], default: SourceSpec):
    """``build_jobs`` over the default (sales) source's daily and weekly partitions."""
    return build_jobs(
        assets,
        daily_partitions(default.start_date, default.end_date),
        weekly_partitions(default.start_date, default.end_date),
    )
