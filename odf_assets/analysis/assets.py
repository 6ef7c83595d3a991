"""The analysis-service pair: per date, ``analysis/summary`` and ``analysis/stats`` of cleaned sales."""

import dagster as dg

from odf_assets import checks
from odf_assets.analysis import transforms as analysis
from odf_assets.automation import FOLLOW_DAILY_INPUTS
from odf_assets.derived import derived_asset_options
from odf_assets.deterministic import naming_inexact_amounts
from odf_assets.partitions import daily_partitions
from odf_assets.publishing import emit_unique_by
from odf_assets.sales import transforms as sales_columns
from odf_assets.sales.assets import CLEANED_SALES
from odf_assets.sources.registry import SourceSpec
from odf_resources.parquet_io_manager import LazyFrame
from odf_resources.storage_resource import OdfStorage

SUMMARY = dg.AssetKey(["analysis", "summary"])
STATS = dg.AssetKey(["analysis", "stats"])
STATS_COLUMNS = ("sale_bottles", "sale_dollars", "sale_liters", "state_bottle_retail")


def build_analysis_assets(source: SourceSpec) -> list[dg.AssetsDefinition]:
    common = dict(
        group_name="analysis",
        **derived_asset_options(daily_partitions(source.start_date, source.end_date)),
        metadata={"partition_expr": analysis.DATE},
        ins={"sales": dg.AssetIn(key=CLEANED_SALES)},
        automation_condition=FOLLOW_DAILY_INPUTS,
    )
    summary_key = [analysis.DATE, "category_name"]
    stats_key = [analysis.DATE, "column"]

    @dg.asset(
        key=SUMMARY,
        check_specs=checks.check_specs(SUMMARY, checks.Contract(key=tuple(summary_key)), common["partitions_def"]),
        **common,
    )
    def summary(context: dg.AssetExecutionContext, odf_storage: OdfStorage, sales: LazyFrame):
        """Per date and category: rows, total sales and share of the day (the old summary.parquet)."""
        where = f"{CLEANED_SALES.to_user_string()} (source {source.name})"
        identity = (sales_columns.DATE, sales_columns.INVOICE)
        with naming_inexact_amounts(sales, {sales_columns.REVENUE: sales_columns.DECIMALS}, where, identity):
            yield from emit_unique_by(context, analysis.category_summary(sales), summary_key, odf_storage.get())

    @dg.asset(
        key=STATS,
        check_specs=checks.check_specs(STATS, checks.Contract(key=tuple(stats_key)), common["partitions_def"]),
        **common,
    )
    def stats(context: dg.AssetExecutionContext, odf_storage: OdfStorage, sales: LazyFrame):
        """Per date and numeric column: descriptive statistics (the old stats.parquet)."""
        yield from emit_unique_by(
            context, analysis.descriptive_stats(sales, STATS_COLUMNS), stats_key, odf_storage.get()
        )

    return [summary, stats]
