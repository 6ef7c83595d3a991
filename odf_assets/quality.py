"""Pure data-quality measures as Polars expressions, so one streaming pass computes them all."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl


@functools.cache
def registry_dtypes() -> dict[str, pl.DataType]:
    """Registry column kinds as Polars dtypes; built on first use, so loading definitions needs no Polars."""
    import polars as pl

    return {
        "string": pl.String,
        "int64": pl.Int64,
        "float64": pl.Float64,
        "bool": pl.Boolean,
        "date": pl.Date,
        "datetime": pl.Datetime("us", "UTC"),
    }


def schema_mismatches(schema: pl.Schema, expected: dict[str, str]) -> list[str]:
    """Human-readable differences between a frame's schema and the registry's column types."""
    problems = []
    for column, kind in expected.items():
        if column not in schema:
            problems.append(f"{column}: missing (expected {kind})")
        elif schema[column] != registry_dtypes()[kind]:
            problems.append(f"{column}: is {schema[column]}, expected {kind}")
    return problems


def row_count() -> pl.Expr:
    import polars as pl

    return pl.len().alias("rows")


def null_counts(columns: Sequence[str]) -> list[pl.Expr]:
    import polars as pl

    return [pl.col(column).null_count().alias(f"nulls.{column}") for column in columns]


# Exact distinct counting holds every key in memory (~110 bytes per string key): past this many
# rows the keys are counted in several passes, each over one hash slice of the key space.
KEYS_PER_PASS = 1_000_000
# A pass over the keys' 64-bit hashes, sorted, peaks near 18 bytes a row and takes a fifth of the
# CPU time of a pass over the keys (bench.large_input).
HASHES_PER_PASS = 3_000_000


def distinct_keys(keys: Sequence[str]) -> pl.Expr:
    """Distinct key tuples; rows minus this is how many rows repeat an earlier row's key."""
    import polars as pl

    return pl.struct(list(keys)).n_unique().alias("distinct_keys")


def row_total(frame: pl.DataFrame | pl.LazyFrame) -> int:
    """Rows in ``frame``; for a Parquet scan this comes from the file footers, not a data pass."""
    import polars as pl

    if isinstance(frame, pl.DataFrame):
        return frame.height
    return frame.select(pl.len()).collect(engine="streaming").item()


def distinct_keys_in_passes(frame: pl.DataFrame | pl.LazyFrame, keys: Sequence[str], rows: int) -> int:
    """Exactly ``distinct_keys``, in bounded memory. Meant for a frame that is cheap to re-read (Parquet).

    Equal keys hash equally, so there are at least as many distinct keys as distinct hashes: when
    no two rows share a hash, no two share a key, and the usual answer (every key unique) comes from
    the hashes alone. Otherwise the keys themselves are counted, about ``KEYS_PER_PASS`` at a time:
    each key's repeats all fall in the same hash slice, so the slices' distinct counts add up.
    """
    import polars as pl

    key = pl.struct(list(keys))
    lazy = frame.lazy()
    hashed, distinct_hashes = 0, 0
    slices = _slices(rows, HASHES_PER_PASS)
    for index in range(slices):
        hashes = lazy.select(key.hash().alias("hash")).filter(pl.col("hash") % slices == index)
        column = hashes.collect(engine="streaming").to_series()
        # Sorted, distinct values are counted by comparing neighbours, without a hash table.
        hashed, distinct_hashes = hashed + len(column), distinct_hashes + column.sort().n_unique()
        del column
    if distinct_hashes == hashed:
        return hashed
    slices = _slices(rows, KEYS_PER_PASS)
    return sum(
        lazy.filter(key.hash() % slices == index).select(key.n_unique()).collect(engine="streaming").item()
        for index in range(slices)
    )


def _slices(rows: int, per_pass: int) -> int:
    return max(1, -(-rows // per_pass))


def out_of_range(column: str, low: float | None, high: float | None) -> pl.Expr:
    import polars as pl

    condition = pl.lit(False)
    if low is not None:
        condition = condition | (pl.col(column) < low)
    if high is not None:
        condition = condition | (pl.col(column) > high)
    return condition.sum().alias(f"outside.{column}")


# The partition key of each row, as text: the key Dagster uses for the row's partition.
DAY = "__odf_day"


def day_measures(key: Sequence[str], null_columns: Sequence[str], ranges: dict, keys_in_pass: bool) -> list[pl.Expr]:
    """Per-day measures for ``group_by(DAY).agg(...)``: rows, nulls, values out of range and, when
    the day's keys fit in memory, distinct keys."""
    expressions = [row_count(), *null_counts(null_columns)]
    expressions += [out_of_range(column, bounds.min, bounds.max) for column, bounds in ranges.items()]
    if key and keys_in_pass:
        expressions.append(distinct_keys(key))
    return expressions


def measure_by_day(
    frame: pl.DataFrame | pl.LazyFrame, partition_column: str, expressions: list[pl.Expr]
) -> dict[str, dict]:
    """``expressions`` evaluated per partition key, in one streaming pass: {key: {name: value}}."""
    import polars as pl

    day = pl.col(partition_column).alias(DAY)
    measured = (
        frame.lazy()
        .group_by(day)
        .agg(expressions)
        .collect(engine="streaming")
        .with_columns(pl.col(DAY).cast(pl.String))
    )
    return {row[DAY]: row for row in measured.iter_rows(named=True) if row[DAY] is not None}


def measure(frame: pl.DataFrame | pl.LazyFrame, expressions: list[pl.Expr]) -> dict:
    """Evaluate aggregate ``expressions`` in one (streaming) pass; a dict of their values."""
    return frame.lazy().select(expressions).collect(engine="streaming").row(0, named=True)
