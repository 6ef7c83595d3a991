"""Pure Polars transforms for raw sources: conform to the registry schema, cut a day, aggregate.

No Dagster, no I/O: frames in, frames out, errors as exceptions that name what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

PARTITION_COLUMN = "date"
ROW_NUMBER = "__odf_row"
# Marks a value that did not convert to its registry type: "__odf_bad.<column>".
FLAG_PREFIX = "__odf_bad."

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


class ConformError(ValueError):
    """Data that does not match the registry; names source, partition, column, row and expectation."""


def _parse_text(column: pl.Expr, kind: str) -> pl.Expr:
    text = column.cast(pl.String).str.strip_chars()
    if kind == "string":
        return column.cast(pl.String)
    if kind == "int64":
        return text.cast(pl.Int64, strict=False)
    if kind == "float64":
        return text.cast(pl.Float64, strict=False)
    if kind == "bool":
        lowered = text.str.to_lowercase()
        return pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False).otherwise(None)
    if kind == "date":
        # ISO dates; an ISO datetime is accepted and cut to its day.
        return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if kind == "datetime":
        return text.str.replace(r"Z$", "").str.to_datetime(strict=False, time_unit="us")
    raise ValueError(f"unknown column type {kind!r}")


def _convert(name: str, dtype: pl.DataType, kind: str) -> pl.Expr:
    """Non-strict conversion of one column; failures become nulls that ``conform`` then reports."""
    column = pl.col(name)
    native = {"int64": pl.Int64, "float64": pl.Float64, "bool": pl.Boolean, "date": pl.Date}
    if dtype == pl.String or dtype == pl.Null:
        return _parse_text(column, kind)
    if kind == "string":
        return column.cast(pl.String)
    if kind == "datetime":
        return column.cast(pl.Datetime("us"), strict=False)
    if kind == "date" and isinstance(dtype, pl.Datetime):
        return column.dt.date()
    if kind in ("int64", "float64") and dtype.is_numeric():
        converted = column.cast(native[kind], strict=False)
        # A float that isn't whole must not silently become an int.
        return pl.when(column == converted).then(converted).otherwise(None) if kind == "int64" else converted
    return column.cast(native[kind], strict=False)


def _present(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A value was supplied: not null and, for text, not blank (blank fields are nulls, not errors)."""
    present = column.is_not_null()
    return present & (column.str.strip_chars() != "") if dtype == pl.String else present


def with_conversion_flags(frame: pl.DataFrame | pl.LazyFrame, schema: dict[str, str], source: str, where: str) -> pl.LazyFrame:
    """The registry's columns, typed, plus one flag column per field marking values that did not
    convert (``FLAG_PREFIX`` + name). Lazy: nothing is read but the schema; ``ConformError`` for
    missing columns. Extra columns are dropped here; the schema check reports them.
    """
    lazy = frame.lazy()
    found = lazy.collect_schema()
    missing = [column for column in schema if column not in found]
    if missing:
        raise ConformError(f"{source} {where}: missing column(s) {missing}; expected {list(schema)}, found {found.names()}")
    converted = {name: _convert(name, found[name], kind) for name, kind in schema.items()}
    flags = [(_present(pl.col(name), found[name]) & converted[name].is_null()).alias(FLAG_PREFIX + name) for name in schema]
    return lazy.select(*[expr.alias(name) for name, expr in converted.items()], *flags)


def raise_on_flagged_values(
    flagged: pl.LazyFrame, original: pl.DataFrame | pl.LazyFrame, schema: dict[str, str], source: str, where: str
) -> pl.LazyFrame:
    """``ConformError`` naming the first value that did not convert, quoted from ``original``;
    otherwise ``flagged`` without its flags. Reads only the flag columns, in one streaming pass.

    Rows are reported 1-based in data order (header excluded), which is the line number minus one
    for CSV. ``where`` says which file/partition this is.
    """
    rows = flagged.select([FLAG_PREFIX + name for name in schema]).with_row_index(ROW_NUMBER, offset=1)
    summary = rows.select(
        *[pl.col(FLAG_PREFIX + name).sum().alias(f"{name}.count") for name in schema],
        *[pl.col(ROW_NUMBER).filter(pl.col(FLAG_PREFIX + name)).first().alias(f"{name}.row") for name in schema],
    ).collect(engine="streaming")
    for name, kind in schema.items():
        count = summary[f"{name}.count"].item()
        if count:
            row = summary[f"{name}.row"].item()
            value = original.lazy().slice(row - 1, 1).select(name).collect().item()
            raise ConformError(
                f"{source} {where}: column {name!r} row {row}: {value!r} is not a valid {kind} ({count} bad value(s) in this column)"
            )
    return flagged.select(list(schema))


def conform_to_schema(frame: pl.DataFrame | pl.LazyFrame, schema: dict[str, str], source: str, where: str) -> pl.LazyFrame:
    """Select and type the registry's columns, lazily; ``ConformError`` on the first bad value.

    One streaming pass over the input finds, per column, how many values do not convert and the
    first such row, so multi-GB files are validated without being loaded. To validate while
    writing the rows somewhere, stage ``with_conversion_flags`` and check the staged copy with
    ``raise_on_flagged_values`` instead: one pass over the input, not two.
    """
    return raise_on_flagged_values(with_conversion_flags(frame, schema, source, where), frame, schema, source, where)


def with_partition_date(frame: pl.LazyFrame, date_column: str | None, partition_date: date | None) -> pl.LazyFrame:
    """Add the ``date`` partition column: from ``date_column`` or, per-day files, the partition's day."""
    if date_column is not None:
        value = pl.col(date_column)
        day = value.dt.date() if isinstance(frame.collect_schema()[date_column], pl.Datetime) else value
        return frame.with_columns(day.alias(PARTITION_COLUMN))
    if partition_date is None:
        raise ValueError("a per-day file needs its partition date")
    return frame.with_columns(pl.lit(partition_date, dtype=pl.Date).alias(PARTITION_COLUMN))


def rows_in_window(frame: pl.LazyFrame, start: date, end: date) -> pl.LazyFrame:
    """Rows whose ``date`` is in [start, end), in source order (so re-runs write identical files)."""
    return frame.filter(pl.col(PARTITION_COLUMN).is_between(start, end, closed="left"))


def _metric_expr(agg: str, column: str | None, name: str) -> pl.Expr:
    if agg == "count":
        return (pl.len() if column is None else pl.col(column).count()).alias(name)
    expressions = {
        "sum": lambda c: c.sum(),
        "mean": lambda c: c.mean(),
        "min": lambda c: c.min(),
        "max": lambda c: c.max(),
        "distinct_count": lambda c: c.n_unique(),
    }
    return expressions[agg](pl.col(column)).alias(name)


def aggregate(
    frame: pl.DataFrame | pl.LazyFrame, group_by: Sequence[str], metrics: Sequence[tuple[str, str | None, str]]
) -> pl.LazyFrame:
    """Group by ``date`` plus ``group_by`` and compute ``(agg, column, output name)`` metrics, sorted."""
    keys = [PARTITION_COLUMN, *[c for c in group_by if c != PARTITION_COLUMN]]
    return frame.lazy().group_by(keys).agg([_metric_expr(*metric) for metric in metrics]).sort(keys, nulls_last=True)
