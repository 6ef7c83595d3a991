"""The analysis service's two daily results as pure Polars: totals by category and statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from odf_assets.deterministic import exact_sum, ordered_mean, ordered_std

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

DATE = "date"
STATISTICS = ("count", "null_count", "mean", "std", "min", "p25", "median", "p75", "max")


def category_summary(
    sales: pl.LazyFrame, category: str = "category_name", amount: str = "sale_dollars", decimals: int = 2
) -> pl.LazyFrame:
    """Per day and category: rows, total amount and the category's share of the day's total.
    ``amount`` has ``decimals`` places (dollars and cents): totals are exact sums."""
    import polars as pl

    return (
        sales.group_by(DATE, category)
        .agg(pl.len().alias("rows"), exact_sum(amount, decimals).alias("total"))
        .with_columns((pl.col("total") / exact_sum("total", decimals).over(DATE)).alias("share_of_day"))
        .sort(DATE, "total", category, descending=[False, True, False])
    )


def descriptive_stats(sales: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    """Per day and numeric column: count, nulls, mean, std, min, quartiles, max (long format)."""
    import polars as pl

    per_column = [
        sales.group_by(DATE)
        .agg(
            pl.col(column).count().alias("count"),
            pl.col(column).null_count().alias("null_count"),
            ordered_mean(column).alias("mean"),
            ordered_std(column).alias("std"),
            pl.col(column).min().cast(pl.Float64).alias("min"),
            pl.col(column).quantile(0.25, "linear").alias("p25"),
            pl.col(column).median().alias("median"),
            pl.col(column).quantile(0.75, "linear").alias("p75"),
            pl.col(column).max().cast(pl.Float64).alias("max"),
        )
        .with_columns(pl.lit(column).alias("column"))
        for column in columns
    ]
    return (
        pl.concat(per_column, how="vertical_relaxed")
        .select(
            DATE,
            "column",
            *[
                pl.col(s).cast(pl.Float64) if s not in ("count", "null_count") else pl.col(s).cast(pl.Int64)
                for s in STATISTICS
            ],
        )
        .sort(DATE, "column")
    )
