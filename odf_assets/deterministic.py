"""Float aggregations whose result does not depend on row order or thread scheduling.

Polars adds a group's values in whatever order its threads deliver partial results, so the last
digits of a float sum, mean or standard deviation can change between two identical runs, and so
would the Parquet files. These expressions sort each group's values and add them one after the
other in that order (a cumulative sum, which the optimizer cannot reorder or split): the same
values always give the same bits. They work in ``group_by().agg()`` and in ``over()`` windows.

Nulls are ignored and a group without any value gives NULL, as in SQL (Polars' own ``sum`` gives 0).
Integer sums are exact in any order; plain ``sum()`` is enough for them where NULL is not needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl


def ordered_sum(column: str) -> pl.Expr:
    """SQL ``SUM``: the non-null values added in ascending order; NULL for a group without values."""
    import polars as pl

    return pl.col(column).sort(nulls_last=False).cum_sum().last()


def ordered_mean(column: str) -> pl.Expr:
    """SQL ``AVG``: ``ordered_sum`` over the count of non-null values; NULL without values."""
    import polars as pl

    return ordered_sum(column) / pl.col(column).count()


def ordered_std(column: str) -> pl.Expr:
    """Sample standard deviation (n - 1), summing squared deviations from ``ordered_mean`` in
    ascending order; NULL with fewer than two values, like Polars' and SQL's ``stddev_samp``."""
    import polars as pl

    count = pl.col(column).count()
    squared_deviations = ((pl.col(column) - ordered_mean(column)) ** 2).sort(nulls_last=False).cum_sum().last()
    return pl.when(count > 1).then((squared_deviations / (count - 1)).sqrt())
