"""The sales analytics pipeline as pure Polars: raw → cleaned → daily → weekly, trends, top days.

Frames may hold several days or weeks (range backfills); every result is computed per day or per
week, so a partition's output never depends on which other partitions shared its run.
Column names follow the Iowa Liquor Sales dataset the default source is shaped like.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from odf_assets.deterministic import exact_mean, exact_sum

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

DATE, WEEK = "date", "week_start"
INVOICE, REVENUE, BOTTLES, LITERS, STORE = "invoice_line_no", "sale_dollars", "sale_bottles", "sale_liters", "store"
TEXT_COLUMNS = ("name", "city", "county", "category_name", "vendor_name", "im_desc")
UNKNOWN = "Unknown"
# The dataset writes dollars and liters with two decimals: their sums are exact (integer cents,
# see odf_assets/deterministic.py), and a value with more decimals fails the aggregate.
DECIMALS = 2


def clean_sales(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Drop rows missing identity or amounts, returns (non-positive bottles/dollars) and repeated
    invoice lines; trim text and name missing counties, so aggregates count real sales once.
    Repeats are found within each day, like the partitions, so a range run keeps the same rows as
    day-by-day runs. Keeps source order (first occurrence wins): same input, same file."""
    import polars as pl

    present = [c for c in TEXT_COLUMNS if c in raw.collect_schema().names()]
    return (
        raw.filter(_is_complete_sale())
        .filter(pl.col(INVOICE).is_first_distinct().over(DATE))
        .with_columns([pl.col(c).str.strip_chars().fill_null(UNKNOWN).replace("", UNKNOWN) for c in present])
    )


def _is_complete_sale() -> pl.Expr:
    """The rows ``clean_sales`` keeps before removing repeats (shared with the quality metrics)."""
    import polars as pl

    return (
        pl.col(INVOICE).is_not_null()
        & pl.col(DATE).is_not_null()
        & pl.col(REVENUE).is_not_null()
        & (pl.col(BOTTLES) > 0)
        & (pl.col(REVENUE) > 0)
    )


def daily_sales_summary(cleaned: pl.LazyFrame) -> pl.LazyFrame:
    """One row per day: transactions, bottles, liters, revenue, average sale, distinct stores/items."""
    import polars as pl

    return (
        cleaned.group_by(DATE)
        .agg(
            pl.len().alias("transactions"),
            pl.col(BOTTLES).sum().alias("bottles_sold"),
            exact_sum(LITERS, DECIMALS).alias("liters_sold"),
            exact_sum(REVENUE, DECIMALS).alias("revenue"),
            exact_mean(REVENUE, DECIMALS).alias("average_sale"),
            pl.col(STORE).n_unique().alias("distinct_stores"),
            pl.col("im_desc").n_unique().alias("distinct_items"),
        )
        .sort(DATE)
    )


def data_quality_metrics(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Per day, what cleaning will face: rows, nulls, returns and repeated invoice lines.

    ``usable_rows`` is exactly what ``clean_sales`` keeps: complete sales, each invoice line once.
    ``duplicate_invoice_rows`` counts only the repeats it drops (a line sold twice is one repeat,
    not two unusable rows)."""
    import polars as pl

    complete = _is_complete_sale()
    usable_rows = pl.col(INVOICE).filter(complete).n_unique()
    return (
        raw.group_by(DATE)
        .agg(
            pl.len().alias("raw_rows"),
            (complete.sum() - usable_rows).alias("duplicate_invoice_rows"),
            pl.col("county").is_null().sum().alias("missing_county"),
            pl.col(REVENUE).is_null().sum().alias("missing_sale_dollars"),
            ((pl.col(BOTTLES) <= 0) | (pl.col(REVENUE) <= 0)).sum().alias("returns_or_zero_sales"),
            usable_rows.alias("usable_rows"),
        )
        .with_columns((pl.col("usable_rows") / pl.col("raw_rows")).alias("usable_fraction"))
        .sort(DATE)
    )


def enriched_daily_summary(summary: pl.LazyFrame, quality: pl.LazyFrame) -> pl.LazyFrame:
    """The daily summary with calendar fields, revenue per bottle and the day's data quality."""
    import polars as pl

    return (
        summary.join(quality.select(DATE, "raw_rows", "usable_fraction"), on=DATE, how="left")
        .with_columns(
            pl.col(DATE).dt.strftime("%A").alias("weekday"),
            (pl.col(DATE).dt.weekday() >= 6).alias("is_weekend"),
            pl.col(DATE).dt.truncate("1w").alias(WEEK),
            (pl.col("revenue") / pl.col("bottles_sold")).alias("revenue_per_bottle"),
        )
        .sort(DATE)
    )


def weekly_sales(enriched: pl.LazyFrame) -> pl.LazyFrame:
    """One row per Monday-start week from its daily rows."""
    import polars as pl

    return (
        enriched.group_by(WEEK)
        .agg(
            exact_sum("revenue", DECIMALS).alias("revenue"),
            pl.col("bottles_sold").sum(),
            pl.col("transactions").sum(),
            pl.len().alias("days_with_sales"),
            exact_mean("revenue", DECIMALS).alias("average_daily_revenue"),
            # Ties go to the earlier day, whatever order the days arrive in.
            pl.col(DATE).sort_by("revenue", DATE, descending=[True, False]).first().alias("best_day"),
        )
        .sort(WEEK)
    )


def sales_trends(enriched: pl.LazyFrame) -> pl.LazyFrame:
    """Day-over-day revenue change and a 3-day moving average, computed within each week."""
    import polars as pl

    ordered = enriched.sort(DATE)
    return ordered.select(
        WEEK,
        DATE,
        "revenue",
        (pl.col("revenue").pct_change().over(WEEK) * 100).alias("revenue_change_pct"),
        pl.col("revenue").rolling_mean(window_size=3, min_samples=1).over(WEEK).alias("revenue_3day_average"),
    ).sort(DATE)


def top_sales_days(enriched: pl.LazyFrame, top_n: int = 3) -> pl.LazyFrame:
    """The ``top_n`` highest-revenue days of each week, ranked 1..n."""
    import polars as pl

    # Sorted first: "ordinal" ranks tied revenues by row order, which must be the days' order.
    return (
        enriched.sort(DATE)
        .with_columns(pl.col("revenue").rank(method="ordinal", descending=True).over(WEEK).cast(pl.Int64).alias("rank"))
        .filter(pl.col("rank") <= top_n)
        .select(WEEK, "rank", DATE, "weekday", "revenue", "transactions")
        .sort(WEEK, "rank")
    )
