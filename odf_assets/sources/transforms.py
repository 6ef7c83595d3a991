"""Pure Polars transforms for raw sources: conform to the registry schema, cut a day, aggregate.

No Dagster, no I/O: frames in, frames out, errors as exceptions that name what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from odf_assets.deterministic import exact_mean, exact_sum, ordered_mean, ordered_sum
from odf_assets.quality import registry_dtypes
from odf_assets.sources.registry import ParseOptions
from odf_resources.constants import PARTITION_COLUMN

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

ROW_NUMBER = "__odf_row"
# Marks a value that did not convert to its registry type: "__odf_bad.<column>".
FLAG_PREFIX = "__odf_bad."
_TEXT_PREFIX, _TYPED_PREFIX = "__odf_text.", "__odf_typed."

_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_ISO_DATE = r"^(\d{4}-\d{2}-\d{2})[ T]"


class ConformError(ValueError):
    """Data that does not match the registry; names source, partition, column, row and expectation."""


def _to_utc(naive: pl.Expr, timezone: str | None, parsing: ParseOptions | None = None) -> pl.Expr:
    """Naive wall-clock times in ``timezone`` (UTC when unset) as UTC instants. A time that occurs
    twice (DST ends) or never (DST starts) follows ``ambiguous_times`` / ``nonexistent_times``;
    with "raise" (the default) it becomes null, so it is reported, not guessed."""
    import polars as pl

    parsing = parsing or ParseOptions()
    zone = timezone or "UTC"
    ambiguous = "null" if parsing.ambiguous_times == "raise" else parsing.ambiguous_times
    local = naive.dt.replace_time_zone(zone, ambiguous=ambiguous, non_existent="null")
    if parsing.nonexistent_times == "shift_forward":
        # pandas' shift_forward: the first time after the gap. Gaps start and end on a quarter hour
        # and last at most two hours, so the first existing quarter hour after the value is it.
        quarter = naive.dt.truncate("15m")
        later = [
            (quarter + pl.duration(minutes=15 * step)).dt.replace_time_zone(
                zone, ambiguous=ambiguous, non_existent="null"
            )
            for step in range(1, 9)
        ]
        local = pl.coalesce(local, *later)
    return local.dt.convert_time_zone("UTC")


def _zone_in_pattern(pattern: str) -> str | None:
    """How a strptime pattern fixes the instant: its own offset (``%z``), a literal ``Z`` (UTC),
    or None when its values are naive wall-clock times."""
    if "%z" in pattern or "%Z" in pattern or "%:z" in pattern:
        return "offset"
    if pattern.rstrip().endswith("Z") and not pattern.rstrip().endswith("%Z"):
        return "utc"
    return None


def _parse_datetime(text: pl.Expr, pattern: str | None, parsing: ParseOptions) -> pl.Expr:
    import polars as pl

    timezone = parsing.timezone
    if pattern is not None:
        zone = _zone_in_pattern(pattern)
        if zone == "offset":
            return text.str.to_datetime(pattern, strict=False, time_unit="us").dt.convert_time_zone("UTC")
        if zone == "utc":
            # A literal Z means UTC: ``timezone`` applies to naive values only.
            return text.str.to_datetime(pattern, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        return _to_utc(text.str.to_datetime(pattern, strict=False, time_unit="us"), timezone, parsing)
    # ISO 8601: a Z or an offset fixes the instant; without one the value is local to ``timezone``.
    iso = text.str.replace(r"[zZ]$", "+00:00").str.replace(_ISO_DATE, "${1}T")
    aware = iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")
    naive = pl.coalesce(
        iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        iso.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
        iso.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us")),
    )
    return pl.coalesce(aware, _to_utc(naive, timezone, parsing))


def _parse_stripped(text: pl.Expr, kind: str, pattern: str | None, parsing: ParseOptions) -> pl.Expr:
    """Text already stripped of surrounding whitespace, as ``kind``; what does not convert is null."""
    import polars as pl

    if kind == "int64":
        return text.cast(pl.Int64, strict=False)
    if kind == "float64":
        # A decimal comma (1.234,5 or 1234,5) becomes a point; thousands points go first.
        number = (
            text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
            if parsing.csv.decimal_comma
            else text
        )
        return number.cast(pl.Float64, strict=False)
    if kind == "bool":
        lowered = text.str.to_lowercase()
        return pl.when(lowered.is_in(_TRUE)).then(True).when(lowered.is_in(_FALSE)).then(False).otherwise(None)
    if kind == "date":
        if pattern is not None:
            return text.str.to_date(pattern, strict=False)
        # ISO dates; an ISO datetime is accepted and cut to its (local) day.
        return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    if kind == "datetime":
        return _parse_datetime(text, pattern, parsing)
    raise ValueError(f"unknown column type {kind!r}")


def _convert(name: str, dtype: pl.DataType, kind: str, parsing: ParseOptions) -> pl.Expr:
    """Non-strict conversion of one column; failures become nulls that the flags then mark."""
    import polars as pl

    column = pl.col(name)
    # Values stored for ``datetime`` columns: instants in UTC, whatever zone the source wrote.
    utc_datetime = registry_dtypes()["datetime"]
    if kind == "string":
        return column.cast(pl.String)
    if kind == "datetime":
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            return column.dt.convert_time_zone("UTC").cast(utc_datetime)
        if isinstance(dtype, (pl.Datetime, pl.Date)):
            return _to_utc(column.cast(pl.Datetime("us")), parsing.timezone, parsing)
        return column.cast(utc_datetime, strict=False)
    if kind == "date" and isinstance(dtype, pl.Datetime):
        return column.dt.date()
    if kind in ("int64", "float64") and dtype.is_numeric():
        converted = column.cast(registry_dtypes()[kind], strict=False)
        # A float that isn't whole must not silently become an int.
        return pl.when(column == converted).then(converted).otherwise(None) if kind == "int64" else converted
    return column.cast(registry_dtypes()[kind], strict=False)


def flagged_columns(schema: dict[str, str]) -> list[str]:
    """Columns whose values can fail to convert; any value is a valid string, so those carry no flag
    (which spares a text scan of every string column)."""
    return [name for name, kind in schema.items() if kind != "string"]


def missing_columns(found: pl.Schema, schema: dict[str, str]) -> list[str]:
    return [column for column in schema if column not in found]


def with_conversion_flags(
    frame: pl.DataFrame | pl.LazyFrame,
    schema: dict[str, str],
    source: str,
    where: str,
    parsing: ParseOptions | None = None,
    extra: Sequence[pl.Expr] = (),
) -> pl.LazyFrame:
    """The registry's columns, typed, plus one flag column per field marking values that did not
    convert (``FLAG_PREFIX`` + name). Lazy: nothing is read but the schema; ``ConformError`` for
    missing columns. Extra columns are dropped here; the schema check reports them. ``extra``
    expressions over the source's own columns are kept alongside.
    """
    import polars as pl

    parsing = parsing or ParseOptions()
    lazy = frame.lazy()
    found = lazy.collect_schema()
    missing = missing_columns(found, schema)
    if missing:
        raise ConformError(
            f"{source} {where}: missing column(s) {missing}; expected {list(schema)}, found {found.names()}"
        )
    # Three projections so each text is stripped once and each value converted once: within one
    # projection the streaming engine would evaluate a shared subexpression per use.
    text = {n: f"{_TEXT_PREFIX}{n}" for n in flagged_columns(schema) if found[n] in (pl.String, pl.Null)}
    typed = {n: f"{_TYPED_PREFIX}{n}" for n in schema}
    lazy = lazy.with_columns(pl.col(n).cast(pl.String).str.strip_chars().alias(t) for n, t in text.items())
    lazy = lazy.with_columns(
        (
            _parse_stripped(pl.col(text[name]), kind, parsing.formats.get(name), parsing)
            if name in text
            else _convert(name, found[name], kind, parsing)
        ).alias(typed[name])
        for name, kind in schema.items()
    )
    flags = []
    for name in flagged_columns(schema):
        # Blank fields are nulls, not errors; a value was supplied and did not convert.
        supplied = (pl.col(text[name]) != "").fill_null(False) if name in text else pl.col(name).is_not_null()
        flags.append((supplied & pl.col(typed[name]).is_null()).alias(FLAG_PREFIX + name))
    return lazy.select(*[pl.col(typed[name]).alias(name) for name in schema], *flags, *extra)


def partition_day(frame: pl.LazyFrame, date_column: str, timezone: str | None = None) -> pl.Expr:
    """Each row's day from ``date_column``; a datetime's day is taken in the source's time zone."""
    import polars as pl

    value = pl.col(date_column)
    if isinstance(frame.collect_schema()[date_column], pl.Datetime):
        return value.dt.convert_time_zone(timezone or "UTC").dt.date()
    return value


def with_partition_date(
    frame: pl.LazyFrame, date_column: str | None, partition_date: date | None, timezone: str | None = None
) -> pl.LazyFrame:
    """Add the ``date`` partition column: from ``date_column`` or, per-day files, the partition's day."""
    import polars as pl

    if date_column is not None:
        return frame.with_columns(partition_day(frame, date_column, timezone).alias(PARTITION_COLUMN))
    if partition_date is None:
        raise ValueError("a per-day file needs its partition date")
    return frame.with_columns(pl.lit(partition_date, dtype=pl.Date).alias(PARTITION_COLUMN))


def rows_in_window(frame: pl.LazyFrame, start: date, end: date) -> pl.LazyFrame:
    """Rows whose ``date`` is in [start, end), in source order (so re-runs write identical files)."""
    import polars as pl

    return frame.filter(pl.col(PARTITION_COLUMN).is_between(start, end, closed="left"))


def _metric_expr(
    agg: str, column: str | None, name: str, is_float: bool = False, decimals: int | None = None
) -> pl.Expr:
    """SQL semantics: ``count`` without a column is COUNT(*), with one (or ``count_non_null``)
    COUNT(column); ``distinct_count`` is COUNT(DISTINCT column), nulls not counted; sum, mean, min
    and max ignore nulls and give NULL for a group without values (Polars' own sum gives 0).
    Sums and means of a float column with declared ``decimals`` (money) are exact integer sums;
    other float sums and means add the values in ascending order: re-runs give the same bits."""
    import polars as pl

    # Counts are int64, as SQL's COUNT is BIGINT (Polars' own counts are uint32).
    if agg == "count" and column is None:
        return pl.len().cast(pl.Int64).alias(name)
    values = pl.col(column)
    if agg in ("count", "count_non_null"):
        return values.count().cast(pl.Int64).alias(name)
    if agg == "distinct_count":
        return values.drop_nulls().n_unique().cast(pl.Int64).alias(name)
    if agg in ("sum", "mean") and is_float and decimals is not None:
        return (exact_sum(column, decimals) if agg == "sum" else exact_mean(column, decimals)).alias(name)
    if agg in ("sum", "mean") and is_float:
        return (ordered_sum(column) if agg == "sum" else ordered_mean(column)).alias(name)
    if agg in ("sum", "mean"):
        # Integer sums are exact in any order; only the no-value case needs SQL's NULL.
        total = values.sum() if agg == "sum" else values.sum() / values.count()
        return pl.when(values.count() > 0).then(total).alias(name)
    return {"min": values.min(), "max": values.max()}[agg].alias(name)


COUNTS = ("count", "count_non_null", "distinct_count")


def aggregate(
    frame: pl.DataFrame | pl.LazyFrame,
    group_by: Sequence[str],
    metrics: Sequence[tuple[str, str | None, str]],
    days: Sequence[date] = (),
    decimals: Mapping[str, int] | None = None,
) -> pl.LazyFrame:
    """Group by ``date`` plus ``group_by`` and compute ``(agg, column, output name)`` metrics with
    SQL's null semantics (see ``_metric_expr``), sorted by the group keys. ``decimals`` names float
    columns written with that many places (money): their sums and means are exact. Without ``group_by``,
    every day of ``days`` gets its row, as SQL's ungrouped aggregate does: an empty day has counts
    of 0 and NULL for the other metrics."""
    import polars as pl

    keys = [PARTITION_COLUMN, *[c for c in group_by if c != PARTITION_COLUMN]]
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    expressions = {
        name: _metric_expr(
            agg, column, name, column is not None and schema[column].is_float(), (decimals or {}).get(column)
        )
        for agg, column, name in metrics
    }
    # Memory: a distinct count holds every (group, value) pair, and the streaming engine then keeps
    # the whole input of its group-by. Text keys grouped as categories, and distinct counts in a
    # group-by of their own, keep that to the keys and the counted columns (joined back by key).
    text_keys = [key for key in keys if schema[key] == pl.String]
    lazy = lazy.with_columns(pl.col(text_keys).cast(pl.Categorical))
    distinct = [name for agg, _, name in metrics if agg == "distinct_count"]
    others = [name for name in expressions if name not in distinct]
    grouped = lazy.group_by(keys).agg(expressions[name] for name in (others or distinct))
    if others and distinct:
        counted = lazy.group_by(keys).agg(expressions[name] for name in distinct)
        grouped = grouped.join(counted, on=keys, how="left", nulls_equal=True)
    grouped = grouped.select(*keys, *expressions).with_columns(pl.col(text_keys).cast(pl.String))
    if len(keys) == 1 and days:
        every_day = pl.LazyFrame({PARTITION_COLUMN: list(days)}, schema={PARTITION_COLUMN: schema[PARTITION_COLUMN]})
        counts = [name for agg, _, name in metrics if agg in COUNTS]
        grouped = every_day.join(grouped, on=PARTITION_COLUMN, how="left").with_columns(pl.col(counts).fill_null(0))
    return grouped.sort(keys, nulls_last=True)
