"""Aggregations whose result does not depend on row order or thread scheduling.

Two kinds. Amounts written with a fixed number of decimal places (money: dollars and cents) are
added exactly as integers (``exact_sum``, ``exact_mean``): integer sums are the same in any order
and on any number of threads, so they need no sort and cost little more than a plain sum. The
result is converted to Float64 once, at the end, so the stored values keep their units (dollars,
not cents) and are the nearest double to the exact decimal sum (for sums under 2^53 units, 90
trillion dollars in cents; Int64 holds 9.2e18). A value with more decimal places than declared is
never rounded: the query fails (``InexactAmountError`` where the caller names the row: see
``naming_inexact_amounts``).

Other floats (measurements with any number of digits) use the ordered sums below.

Polars adds a group's values in whatever order its threads deliver partial results, so the last
digits of a float sum, mean or standard deviation can change between two identical runs, and so
would the Parquet files. These expressions sort each group's values and add them one after the
other in that order (a cumulative sum, which the optimizer cannot reorder or split): the same
values always give the same bits. They work in ``group_by().agg()`` and in ``over()`` windows.

Nulls are ignored and a group without any value gives NULL, as in SQL (Polars' own ``sum`` gives 0).
Integer sums are exact in any order; plain ``sum()`` is enough for them where NULL is not needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl


class InexactAmountError(ValueError):
    """A value with more decimal places than its column's exact sums allow; names source, row, field."""


def _divided(numerator: pl.Expr, divisor: int, like: pl.Expr) -> pl.Expr:
    """``numerator / divisor``, correctly rounded. Polars multiplies by the reciprocal when dividing
    by a literal (1724 / 100 gives 17.240000000000002); a divisor column gets a true division."""
    return numerator / (like * 0 + divisor)


def scaled_units(column: str, decimals: int) -> pl.Expr:
    """``column`` in whole units of 10^-decimals (cents for 2) as Int64, exactly. A value that is not
    a whole number of units (more decimals, NaN, infinite) makes the query fail rather than round:
    it becomes NaN, and the strict cast refuses NaN (Polars names the column)."""
    import polars as pl

    value = pl.col(column).cast(pl.Float64)
    units = (value * 10**decimals).round()
    return pl.when(_is_whole(value, units, decimals)).then(units).otherwise(float("nan")).cast(pl.Int64, strict=True)


def _is_whole(value: pl.Expr, units: pl.Expr, decimals: int) -> pl.Expr:
    # A value written with at most ``decimals`` places is the nearest double to units / 10^decimals.
    return value.is_null() | (_divided(units, 10**decimals, value) == value)


def exact_sum(column: str, decimals: int = 2) -> pl.Expr:
    """SQL ``SUM`` of an amount with ``decimals`` places, added as integers (exact in any order) and
    returned as Float64 in the column's own units, rounded once; NULL for a group without values."""
    import polars as pl

    count = pl.col(column).count()
    return pl.when(count > 0).then(_divided(scaled_units(column, decimals).sum(), 10**decimals, count))


def exact_mean(column: str, decimals: int = 2) -> pl.Expr:
    """SQL ``AVG`` of an amount with ``decimals`` places: the exact sum over the count, rounded once."""
    import polars as pl

    count = pl.col(column).count()
    return pl.when(count > 0).then(scaled_units(column, decimals).sum() / (count * 10**decimals))


def first_inexact_amount(frame: pl.LazyFrame, column: str, decimals: int) -> dict | None:
    """The first row (its position as ``row``, with the frame's columns) whose ``column`` is not a
    whole number of 10^-decimals units, or None: to name the row ``scaled_units`` refused."""
    import polars as pl

    value = pl.col(column).cast(pl.Float64)
    inexact = ~_is_whole(value, (value * 10**decimals).round(), decimals)
    found = frame.with_row_index("row").filter(inexact).head(1).collect()
    return found.row(0, named=True) if found.height else None


@contextmanager
def naming_inexact_amounts(
    frame: pl.LazyFrame, amounts: Mapping[str, int], where: str, identity: Sequence[str] = ()
) -> Iterator[None]:
    """Around a query with exact sums of ``frame``'s ``amounts`` ({column: decimal places}): a value
    they refused is reported as ``InexactAmountError`` naming ``where``, the row (position and
    ``identity`` values) and the field."""
    import polars as pl

    try:
        yield
    except pl.exceptions.InvalidOperationError as error:
        for column, decimals in amounts.items():
            found = first_inexact_amount(frame.select(*identity, column), column, decimals)
            if found is not None:
                row, value = found.pop("row"), found.pop(column)
                raise InexactAmountError(
                    f"{where}: row {row} {found or ''} field {column!r} is {value!r}, expected at most "
                    f"{decimals} decimal places: its sums are exact in units of 10^-{decimals}, and a value "
                    "is refused rather than rounded"
                ) from error
        raise


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
