"""Dagster wiring of the sales pipeline; the logic lives in ``odf_assets.sales.transforms``."""

from collections.abc import Sequence

import dagster as dg

from odf_assets import checks
from odf_assets.automation import FOLLOW_DAILY_INPUTS, FOLLOW_WEEK_OF_DAYS
from odf_assets.derived import derived_asset_options
from odf_assets.deterministic import naming_inexact_amounts
from odf_assets.k8s_config import HEAVY_ASSET_OP_TAGS
from odf_assets.partitions import WEEKLY_BACKFILL_POLICY, daily_partitions, weekly_partitions
from odf_assets.publishing import emit_unique_by
from odf_assets.sales import transforms as sales
from odf_assets.sources.assets import raw_asset_key
from odf_assets.sources.registry import SourceSpec
from odf_resources.parquet_io_manager import LazyFrame
from odf_resources.storage_resource import OdfStorage

SALES_SOURCE = "iowa_liquor_sales"
GROUP = "sales"


def sales_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["sales", name])


CLEANED_SALES = sales_key("cleaned_sales")
DAILY_SALES_SUMMARY = sales_key("daily_sales_summary")
DATA_QUALITY_METRICS = sales_key("data_quality_metrics")
ENRICHED_DAILY_SUMMARY = sales_key("enriched_daily_summary")
WEEKLY_SALES = sales_key("weekly_sales")
SALES_TRENDS = sales_key("sales_trends")
TOP_SALES_DAYS = sales_key("top_sales_days")


def build_sales_assets(source: SourceSpec) -> list[dg.AssetsDefinition]:
    daily = daily_partitions(source.start_date, source.end_date)
    weekly = weekly_partitions(source.start_date, source.end_date)
    raw = raw_asset_key(source)

    def sales_asset(
        key: dg.AssetKey,
        ins: dict[str, dg.AssetKey],
        unique_by: Sequence[str],
        is_weekly: bool = False,
        heavy: bool = False,
    ):
        column = sales.WEEK if is_weekly else sales.DATE
        return dg.asset(
            key=key,
            ins={name: dg.AssetIn(key=upstream) for name, upstream in ins.items()},
            group_name=GROUP,
            **(derived_asset_options(weekly, WEEKLY_BACKFILL_POLICY) if is_weekly else derived_asset_options(daily)),
            op_tags=HEAVY_ASSET_OP_TAGS if heavy else None,
            metadata={"partition_expr": column},
            check_specs=checks.check_specs(key, checks.Contract(key=tuple(unique_by)), weekly if is_weekly else daily),
            automation_condition=FOLLOW_WEEK_OF_DAYS if is_weekly else FOLLOW_DAILY_INPUTS,
        )

    # Row-level work over every sale of the range (dedup, text cleaning): a big pod under k8s.
    @sales_asset(CLEANED_SALES, {"raw": raw}, [sales.DATE, sales.INVOICE], heavy=True)
    def cleaned_sales(context: dg.AssetExecutionContext, odf_storage: OdfStorage, raw: LazyFrame):
        """Sales without incomplete rows, returns or a day's repeated invoice lines; text trimmed."""
        yield from emit_unique_by(context, sales.clean_sales(raw), [sales.DATE, sales.INVOICE], odf_storage.get())

    @sales_asset(DATA_QUALITY_METRICS, {"raw": raw}, [sales.DATE])
    def data_quality_metrics(context: dg.AssetExecutionContext, odf_storage: OdfStorage, raw: LazyFrame):
        """Per day: raw rows, missing values, returns and repeated invoice lines."""
        yield from emit_unique_by(context, sales.data_quality_metrics(raw), [sales.DATE], odf_storage.get())

    @sales_asset(DAILY_SALES_SUMMARY, {"cleaned": CLEANED_SALES}, [sales.DATE])
    def daily_sales_summary(context: dg.AssetExecutionContext, odf_storage: OdfStorage, cleaned: LazyFrame):
        """Per day: transactions, bottles, liters, revenue, average sale, distinct stores and items."""
        amounts = {sales.REVENUE: sales.DECIMALS, sales.LITERS: sales.DECIMALS}
        where = f"{CLEANED_SALES.to_user_string()} (source {source.name})"
        with naming_inexact_amounts(cleaned, amounts, where, (sales.DATE, sales.INVOICE)):
            yield from emit_unique_by(context, sales.daily_sales_summary(cleaned), [sales.DATE], odf_storage.get())

    @sales_asset(
        ENRICHED_DAILY_SUMMARY, {"summary": DAILY_SALES_SUMMARY, "quality": DATA_QUALITY_METRICS}, [sales.DATE]
    )
    def enriched_daily_summary(
        context: dg.AssetExecutionContext, odf_storage: OdfStorage, summary: LazyFrame, quality: LazyFrame
    ):
        """The daily summary with weekday, week, revenue per bottle and the day's data quality."""
        yield from emit_unique_by(
            context, sales.enriched_daily_summary(summary, quality), [sales.DATE], odf_storage.get()
        )

    @sales_asset(WEEKLY_SALES, {"enriched": ENRICHED_DAILY_SUMMARY}, [sales.WEEK], is_weekly=True)
    def weekly_sales(context: dg.AssetExecutionContext, odf_storage: OdfStorage, enriched: LazyFrame):
        """Per Monday-start week: revenue, bottles, transactions, active days and the best day."""
        yield from emit_unique_by(context, sales.weekly_sales(enriched), [sales.WEEK], odf_storage.get())

    @sales_asset(SALES_TRENDS, {"enriched": ENRICHED_DAILY_SUMMARY}, [sales.DATE], is_weekly=True)
    def sales_trends(context: dg.AssetExecutionContext, odf_storage: OdfStorage, enriched: LazyFrame):
        """Day-over-day revenue change and 3-day moving average within each week."""
        yield from emit_unique_by(context, sales.sales_trends(enriched), [sales.DATE], odf_storage.get())

    @sales_asset(TOP_SALES_DAYS, {"enriched": ENRICHED_DAILY_SUMMARY}, [sales.WEEK, "rank"], is_weekly=True)
    def top_sales_days(context: dg.AssetExecutionContext, odf_storage: OdfStorage, enriched: LazyFrame):
        """The three highest-revenue days of each week."""
        yield from emit_unique_by(context, sales.top_sales_days(enriched), [sales.WEEK, "rank"], odf_storage.get())

    return [
        cleaned_sales,
        data_quality_metrics,
        daily_sales_summary,
        enriched_daily_summary,
        weekly_sales,
        sales_trends,
        top_sales_days,
    ]
