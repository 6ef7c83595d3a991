"""From a validated ``SourceModel`` to the frozen ``SourceSpec``: what depends on other keys (columns
in the schema, url or url_template, aggregates' output names) is checked here, in the registry's
error style (file, key path, expectation)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from odf_assets.sources.registry.checks import INTERNAL_PREFIX
from odf_assets.sources.registry.errors import fail
from odf_assets.sources.registry.models import AggregateModel, CsvModel, SourceModel
from odf_assets.sources.registry.specs import (
    AggregateSpec,
    CsvOptions,
    MetricSpec,
    ParseOptions,
    RangeSpec,
    SourceSpec,
)
from odf_core.text import quote
from odf_resources.constants import PARTITION_COLUMN

NUMERIC = ("int64", "float64")


class Where:
    """A key path in one file, and the error for a key under it."""

    def __init__(self, file: Path, path: str):
        self.file, self.path = file, path

    def fail(self, key: str, message: str) -> None:
        raise fail(self.file, f"{self.path}{key}", message)

    def columns(self, key: str, columns: list[str], schema: dict[str, str]) -> tuple[str, ...]:
        for column in columns:
            if column not in schema:
                self.fail(key, f"column {quote(column)} is not in the schema {quote(sorted(schema))}")
        return tuple(columns)


def build_aggregate(where: Where, raw: AggregateModel, schema: dict[str, str]) -> AggregateSpec:
    metrics = []
    for index, metric in enumerate(raw.metrics):
        at = f".metrics[{index}]"
        columns = where.columns(f"{at}.column", metric.column or [], schema)
        if metric.column is not None and len(columns) != 1:
            where.fail(f"{at}.column", f"expected one column, got {quote(list(columns))}")
        column = columns[0] if columns else None
        if column is None and metric.agg != "count":
            where.fail(f"{at}.column", f"metric {quote(metric.agg)} needs a column")
        if metric.agg in ("sum", "mean") and schema.get(column) not in NUMERIC:
            where.fail(
                f"{at}.column", f"{metric.agg} needs a numeric column, {quote(column)} is {quote(schema.get(column))}"
            )
        name = metric.name or (f"{column}_{metric.agg}" if column else "row_count")
        metrics.append(MetricSpec(metric.agg, column, name))
    group_by = where.columns(".group_by", raw.group_by, schema)
    _refuse_output_collisions(where, group_by, metrics)
    return AggregateSpec(name=raw.name, description=raw.description, group_by=group_by, metrics=tuple(metrics))


def _refuse_output_collisions(where: Where, group_by: tuple[str, ...], metrics: list[MetricSpec]) -> None:
    """Every output column once: ``date``, the group_by columns, then one column per metric."""
    taken = {PARTITION_COLUMN: "the partition column", **{column: "a group_by column" for column in group_by}}
    for index, metric in enumerate(metrics):
        at = f".metrics[{index}].name"
        if metric.name.startswith(INTERNAL_PREFIX):
            where.fail(at, f"names starting with {INTERNAL_PREFIX!r} are reserved for ODF's internal columns")
        if metric.name in taken:
            where.fail(
                at, f"{quote(metric.name)} is already {taken[metric.name]}: each output column needs its own name"
            )
        taken[metric.name] = f"the name of metrics[{index}]"


def _schema(where: Where, raw: SourceModel) -> dict[str, str]:
    schema = dict(raw.schema_)
    for column in schema:
        if column.startswith(INTERNAL_PREFIX):
            where.fail(
                f".schema.{column}", f"names starting with {INTERNAL_PREFIX!r} are reserved for ODF's internal columns"
            )
    # `date` is the partition column ODF adds to every row: a source column of that name would be
    # overwritten by it, unless it is the date_column itself, typed date (then both are equal).
    if PARTITION_COLUMN in schema and not (raw.date_column == PARTITION_COLUMN and schema[PARTITION_COLUMN] == "date"):
        where.fail(
            f".schema.{PARTITION_COLUMN}",
            f"{PARTITION_COLUMN!r} is reserved for the partition column (each row's day), which would overwrite it; "
            "allowed only as the date_column with type date",
        )
    return schema


def _checks(where: Where, raw: SourceModel, schema: dict[str, str]) -> tuple[dict[str, float], dict[str, RangeSpec]]:
    null_limits: dict[str, float] = {}
    for column, limit in raw.checks.max_null_fraction.items():
        fraction = isinstance(limit, (int, float)) and not isinstance(limit, bool) and 0 <= limit <= 1
        if column not in schema or not fraction:
            where.fail(
                f".checks.max_null_fraction.{column}", "expected a schema column with a fraction between 0 and 1"
            )
        null_limits[column] = float(limit)
    ranges: dict[str, RangeSpec] = {}
    for column, bounds in raw.checks.ranges.items():
        if schema.get(column) not in NUMERIC:
            where.fail(
                f".checks.ranges.{column}",
                f"ranges apply to numeric schema columns, {quote(column)} is {quote(schema.get(column))}",
            )
        ranges[column] = RangeSpec(bounds.min, bounds.max)
    return null_limits, ranges


def _csv(where: Where, raw: CsvModel | None, fmt: str) -> CsvOptions:
    if raw is None:
        return CsvOptions()
    if fmt != "csv":
        where.fail(".csv", f"applies to format csv only, this source is {quote(fmt)}")
    if raw.quote_char == raw.delimiter:
        where.fail(".csv.quote_char", "must differ from the delimiter")
    if raw.decimal_comma and raw.delimiter == ",":
        where.fail(".csv.decimal_comma", "needs a delimiter other than ',' (e.g. ';')")
    return CsvOptions(
        tuple(raw.null_values), raw.delimiter, raw.quote_char, raw.encoding, raw.decimal_comma, raw.header
    )


def _parsing(where: Where, raw: SourceModel, schema: dict[str, str]) -> ParseOptions:
    for column, pattern in raw.formats.items():
        if schema.get(column) not in ("date", "datetime"):
            where.fail(
                f".formats.{column}",
                f"formats apply to date and datetime schema columns, {quote(column)} is {quote(schema.get(column))}",
            )
        if not isinstance(pattern, str) or "%" not in pattern:
            where.fail(f".formats.{column}", f"expected a strptime format such as '%Y/%m/%d', got {quote(pattern)}")
    return ParseOptions(
        _csv(where, raw.csv, raw.format), dict(raw.formats), raw.timezone, raw.ambiguous_times, raw.nonexistent_times
    )


def _rename(where: Where, raw: SourceModel, schema: dict[str, str]) -> dict[str, str]:
    """``rename: {source name: schema name}``: a file's column whose name is taken (``date``),
    unwieldy or unstable gets the schema's name as it is read."""
    targets: dict[str, str] = {}
    for source_name, target in raw.rename.items():
        if not isinstance(target, str) or target not in schema:
            where.fail(f".rename.{source_name}", f"expected a schema column to rename to, got {quote(target)}")
        if target in targets:
            where.fail(f".rename.{source_name}", f"{quote(target)} is already the new name of {quote(targets[target])}")
        targets[target] = str(source_name)
    return {str(source_name): target for source_name, target in raw.rename.items()}


def _decimals(where: Where, raw: SourceModel, schema: dict[str, str]) -> dict[str, int]:
    """The model holds each column's places (whole, 0..MAX_DECIMALS); the column must be float64."""
    for column in raw.decimals:
        if schema.get(column) != "float64":
            where.fail(
                f".decimals.{column}",
                f"expected a float64 schema column, {quote(column)} is {quote(schema.get(column))}",
            )
    return dict(raw.decimals)


def _resolve_url(file: Path, value: str | None, folders: dict[Path, Path] | None = None) -> str | None:
    """Relative paths are files next to the registry, so a registry folder is self-contained.
    ``folders``: folders already resolved while loading this file (most sources share a few)."""
    if value is None or "://" in value:
        return value
    path = file.parent / value
    if path.name in ("", "..") or folders is None:
        resolved = path.resolve()
    else:
        # Path.resolve() of the folder, then of the name only if it is a link: the same path,
        # without resolving the same folder again for every source in it.
        folder = folders.get(path.parent)
        if folder is None:
            folder = folders[path.parent] = path.parent.resolve()
        resolved = folder / path.name
        if os.path.islink(resolved):
            resolved = resolved.resolve()
    return resolved.as_uri().replace("%7Bdate%7D", "{date}")


def build_source(file: Path, label: str, raw: SourceModel, folders: dict[Path, Path] | None = None) -> SourceSpec:
    """``folders``: shared by the sources of one file while it loads (see ``_resolve_url``)."""
    where = Where(file, label)
    schema = _schema(where, raw)
    url, template = _resolve_url(file, raw.url, folders), _resolve_url(file, raw.url_template, folders)
    if (url is None) == (template is None):
        where.fail("", "set exactly one of 'url_template' (one file per day, with {date}) or 'url' (whole file)")
    if template is not None and "{date}" not in template:
        where.fail(".url_template", "must contain {date}")
    if url is not None and raw.date_column is None:
        where.fail(".date_column", "is required with 'url': it says which rows belong to which day")
    if raw.date_column is not None and schema.get(raw.date_column) not in ("date", "datetime"):
        where.fail(
            ".date_column",
            f"must be a schema column of type date or datetime, got {quote(schema.get(raw.date_column))}",
        )
    start, end = raw.start_date, raw.end_date
    if end is not None and end < start:
        where.fail(".end_date", f"the last day with data must not be before start_date {start}")
    freshness = raw.fetch_cron if raw.freshness_cron is None else raw.freshness_cron
    if freshness == "none" or (raw.freshness_cron is None and end is not None and end < date.today()):
        freshness = None  # an ended source does not arrive any more: no freshness to watch
    null_limits, ranges = _checks(where, raw, schema)
    aggregates = tuple(
        build_aggregate(Where(file, f"{label}.aggregates[{i}]"), aggregate, schema)
        for i, aggregate in enumerate(raw.aggregates)
    )
    first_index: dict[str, int] = {}
    for index, aggregate in enumerate(aggregates):
        if aggregate.name in first_index:
            where.fail(
                f".aggregates[{index}].name",
                f"{quote(aggregate.name)} is already the name of aggregates[{first_index[aggregate.name]}] "
                "(both would be one asset)",
            )
        first_index[aggregate.name] = index
    return SourceSpec(
        name=raw.name,
        description=raw.description,
        license=raw.license,
        owner=raw.owner,
        group=raw.group,
        format=raw.format,
        schema=schema,
        start_date=start,
        end_date=end,
        registry_file=file,
        url=url,
        url_template=template,
        date_column=raw.date_column,
        fetch_cron=raw.fetch_cron,
        freshness_cron=freshness,
        active=raw.active,
        key=where.columns(".key", raw.key, schema),
        max_null_fraction=null_limits,
        allow_empty_days=raw.checks.allow_empty_days,
        ranges=ranges,
        max_shrink_fraction=raw.checks.max_shrink_fraction,
        undated_rows=raw.checks.undated_rows,
        rename=_rename(where, raw, schema),
        decimals=_decimals(where, raw, schema),
        aggregates=aggregates,
        parsing=_parsing(where, raw, schema),
    )
