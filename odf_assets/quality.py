"""Pure data-quality measures on Polars frames; the asset checks turn them into results."""

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


def null_fractions(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, float]:
    if frame.height == 0:
        return {column: 0.0 for column in columns}
    counts = frame.select(pl.col(list(columns)).null_count()).row(0, named=True)
    return {column: counts[column] / frame.height for column in columns}


def duplicate_key_rows(frame: pl.DataFrame, keys: Sequence[str]) -> int:
    """How many rows share their key with an earlier row."""
    return frame.height - frame.select(keys).n_unique() if frame.height else 0


def out_of_range_rows(frame: pl.DataFrame, column: str, low: float | None, high: float | None) -> int:
    condition = pl.lit(False)
    if low is not None:
        condition = condition | (pl.col(column) < low)
    if high is not None:
        condition = condition | (pl.col(column) > high)
    return frame.select(condition.sum()).item() or 0
