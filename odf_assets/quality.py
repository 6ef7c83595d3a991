"""Pure data-quality measures as Polars expressions, so one streaming pass computes them all."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

REGISTRY_DTYPES = {
    "string": pl.String,
    "int64": pl.Int64,
    "float64": pl.Float64,
    "bool": pl.Boolean,
    "date": pl.Date,
    "datetime": pl.Datetime("us"),
}


def schema_mismatches(schema: pl.Schema, expected: dict[str, str]) -> list[str]:
    """Human-readable differences between a frame's schema and the registry's column types."""
    problems = []
    for column, kind in expected.items():
        if column not in schema:
            problems.append(f"{column}: missing (expected {kind})")
        elif schema[column] != REGISTRY_DTYPES[kind]:
            problems.append(f"{column}: is {schema[column]}, expected {kind}")
    return problems


def row_count() -> pl.Expr:
    return pl.len().alias("rows")


def null_counts(columns: Sequence[str]) -> list[pl.Expr]:
    return [pl.col(column).null_count().alias(f"nulls.{column}") for column in columns]


def distinct_keys(keys: Sequence[str]) -> pl.Expr:
    """Distinct key tuples; rows minus this is how many rows repeat an earlier row's key."""
    return pl.struct(list(keys)).n_unique().alias("distinct_keys")


def out_of_range(column: str, low: float | None, high: float | None) -> pl.Expr:
    condition = pl.lit(False)
    if low is not None:
        condition = condition | (pl.col(column) < low)
    if high is not None:
        condition = condition | (pl.col(column) > high)
    return condition.sum().alias(f"outside.{column}")


def measure(frame: pl.DataFrame | pl.LazyFrame, expressions: list[pl.Expr]) -> dict:
    """Evaluate aggregate ``expressions`` in one (streaming) pass; a dict of their values."""
    return frame.lazy().select(expressions).collect(engine="streaming").row(0, named=True)
