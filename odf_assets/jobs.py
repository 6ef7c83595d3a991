"""Asset jobs: one per partitioning, because a run covers one partition (range) of one definition."""

from __future__ import annotations

import dagster as dg

DAILY_PIPELINE_JOB = "daily_pipeline"
WEEKLY_SALES_JOB = "weekly_sales"


def build_jobs(assets: list[dg.AssetsDefinition]) -> list[dg.UnresolvedAssetJobDefinition]:
    daily = [a.key for a in assets if isinstance(a.partitions_def, dg.DailyPartitionsDefinition)]
    weekly = [a.key for a in assets if isinstance(a.partitions_def, dg.WeeklyPartitionsDefinition)]
    jobs = [dg.define_asset_job(DAILY_PIPELINE_JOB, selection=daily, description="Every daily asset: raw sources, aggregates, sales and analysis.")]
    if weekly:
        jobs.append(dg.define_asset_job(WEEKLY_SALES_JOB, selection=weekly, description="The weekly sales aggregates, trends and top days."))
    return jobs
