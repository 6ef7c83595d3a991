"""The source registry: open datasets declared in YAML, parsed into validated, immutable specs.

Every error names the registry file and the key path (``sources[1].schema.amount``) and says
what was expected, because registries are edited by operators, not by the code's authors.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from odf_core.text import QUOTE_LIMIT, quote
from odf_resources.constants import PARTITION_COLUMN

DEFAULT_REGISTRY = Path(__file__).with_name("sources.yaml")
COLUMN_TYPES = ("string", "int64", "float64", "bool", "date", "datetime")
FORMATS = ("csv", "json", "jsonl", "parquet")
METRICS = ("count", "count_non_null", "sum", "mean", "min", "max", "distinct_count")
# Used with fullmatch: "$" alone would accept a trailing newline.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# The partition column every raw and aggregate asset adds, and the prefix of ODF's internal columns.
INTERNAL_PREFIX = "__odf"

SOURCE_KEYS = {
    "name",
    "description",
    "license",
    "owner",
    "url",
    "url_template",
    "date_column",
    "format",
    "schema",
    "start_date",
    "end_date",
    "fetch_cron",
    "freshness_cron",
    "active",
    "key",
    "checks",
    "aggregates",
    "group",
    "csv",
    "formats",
    "timezone",
    "ambiguous_times",
    "nonexistent_times",
    "rename",
}
# Naive local times that occur twice (DST ends) or never (DST starts) in ``timezone``: Polars' and
# pandas' choices. "raise" reports the value as not valid (the default: nothing is guessed).
AMBIGUOUS_TIMES = ("raise", "earliest", "latest")
NONEXISTENT_TIMES = ("raise", "shift_forward")
CSV_KEYS = {"null_values", "delimiter", "quote_char", "encoding", "decimal_comma", "header"}
CSV_ENCODINGS = ("utf8", "latin1")
CHECK_KEYS = {"max_null_fraction", "ranges", "allow_empty_days", "max_shrink_fraction", "undated_rows"}
# What happens to rows whose date_column cannot be read: kept aside (other days go on), or every day fails.
UNDATED_ROWS = ("quarantine", "fail")
AGGREGATE_KEYS = {"name", "description", "group_by", "metrics"}
METRIC_KEYS = {"agg", "column", "name"}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """Control characters as escapes (``\\n``): a key or value from a file cannot forge log lines."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class RegistryError(ValueError):
    """A registry file that cannot be used; the message names the file, the key and the expectation.
    Control characters are escaped in every message, whatever part of the file it quotes."""

    def __init__(self, message: str) -> None:
        super().__init__(escape_controls(str(message)))


@dataclass(frozen=True)
class MetricSpec:
    agg: str
    column: str | None
    name: str


@dataclass(frozen=True)
class AggregateSpec:
    name: str
    description: str
    group_by: tuple[str, ...]
    metrics: tuple[MetricSpec, ...]


@dataclass(frozen=True)
class RangeSpec:
    min: float | None
    max: float | None


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV source is written: its null tokens, separator, quoting, encoding and decimal mark."""

    null_values: tuple[str, ...] = ()
    delimiter: str = ","
    quote_char: str | None = '"'
    encoding: str = "utf8"
    decimal_comma: bool = False
    # False: the file has no header line; its columns are the schema's, in the schema's order.
    header: bool = True


@dataclass(frozen=True)
class ParseOptions:
    """Everything about turning a source's text into typed values, beyond the column types."""

    csv: CsvOptions = field(default_factory=CsvOptions)
    # strptime formats per date/datetime column; ISO 8601 when a column has none.
    formats: dict[str, str] = field(default_factory=dict)
    # Zone of datetime values written without an offset; they are stored as UTC either way.
    timezone: str | None = None
    ambiguous_times: str = "raise"
    nonexistent_times: str = "raise"


@dataclass(frozen=True)
class SourceSpec:
    name: str
    description: str
    license: str
    owner: str
    format: str
    schema: dict[str, str]
    start_date: date
    registry_file: Path
    group: str = "sources"
    url: str | None = None
    url_template: str | None = None
    date_column: str | None = None
    end_date: date | None = None
    fetch_cron: str = "30 1 * * *"
    # When the raw asset must have arrived again (Dagster freshness): fetch_cron unless the registry
    # says otherwise; "none" for no policy. None also for a source whose end_date has passed.
    freshness_cron: str | None = None
    active: bool = True
    key: tuple[str, ...] = ()
    max_null_fraction: dict[str, float] = field(default_factory=dict)
    # Sources with no rows on some days (trading days, weekdays only): empty days are published.
    allow_empty_days: bool = False
    ranges: dict[str, RangeSpec] = field(default_factory=dict)
    # A stored day may lose at most this fraction of its rows to a new fetch (None: any, but never all).
    max_shrink_fraction: float | None = None
    # Rows whose day cannot be read: "quarantine" (kept aside, reported) or "fail" (every day fails).
    undated_rows: str = "quarantine"
    # Source column name -> schema column name, applied as the file is read.
    rename: dict[str, str] = field(default_factory=dict)
    aggregates: tuple[AggregateSpec, ...] = ()
    parsing: ParseOptions = field(default_factory=ParseOptions)

    def url_for(self, partition_date: str) -> str:
        """The URL holding ``partition_date``'s rows (the whole file in whole-file mode)."""
        return self.url_template.replace("{date}", partition_date) if self.url_template else str(self.url)


def _capped(text: str) -> str:
    """A key path or name from the file, cut like ``quote`` cuts values (a key can be megabytes)."""
    return text if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]}… ({len(text)} characters)"


class _Reader:
    """Typed access to one mapping in a registry file, with errors that say where."""

    def __init__(self, file: Path, where: str, mapping: Any, allowed: set[str]):
        self.file, self.where = file, where
        if not isinstance(mapping, dict):
            self.fail("", f"expected a mapping, got {type(mapping).__name__}")
        unknown = sorted(set(mapping) - allowed, key=str)
        if unknown:
            self.fail(f".{unknown[0]}", f"unknown key (expected one of {sorted(allowed)})")
        self.mapping = mapping

    def fail(self, key: str, message: str) -> None:
        # Key paths hold names from the file (columns, unknown keys): capped like quoted values.
        raise RegistryError(f"{self.file}: {_capped(f'{self.where}{key}')}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., required: bool = False) -> Any:
        if key not in self.mapping or self.mapping[key] is None:
            if required or default is ...:
                self.fail(f".{key}", "is required")
            return default
        value = self.mapping[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(f".{key}", f"expected {expected}, got {type(value).__name__} {quote(value)}")
        return value

    def name(self, key: str) -> str:
        value = self.get(key, str, required=True)
        if not _NAME.fullmatch(value):
            self.fail(f".{key}", f"{quote(value)} must be lowercase letters, digits and '_', starting with a letter")
        return value

    def date(self, key: str, default: Any = ...) -> date | None:
        value = self.get(key, (str, date), default)
        if value is None or isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f".{key}", f"expected a date YYYY-MM-DD, got {quote(value)}")

    def columns(self, key: str, schema: dict[str, str], default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, (list, str), default)
        columns = (value,) if isinstance(value, str) else tuple(value)
        for column in columns:
            if column not in schema:
                self.fail(f".{key}", f"column {quote(column)} is not in the schema {quote(sorted(schema))}")
        return columns


COLUMN_NAME_MAX_CHARS = 128
# Polars reads a column name like "^.*$" as a regular expression and "*" as every column.
_UNSAFE_COLUMN = re.compile(r"^\^|\$$|\*|^\s|\s$")


def column_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a column (None when it can): 1-128 characters, no control characters,
    no ``*``, not starting with ``^`` or ending with ``$``, no leading or trailing space."""
    if not name or len(name) > COLUMN_NAME_MAX_CHARS:
        return f"column names have 1 to {COLUMN_NAME_MAX_CHARS} characters"
    if _CONTROL.search(name):
        return "column names must not contain control characters"
    if _UNSAFE_COLUMN.search(name):
        return "column names must not contain '*', start with '^', end with '$' or start/end with a space"
    return None


def _parse_schema(reader: _Reader) -> dict[str, str]:
    schema = reader.get("schema", dict, required=True)
    if not schema:
        reader.fail(".schema", "must declare at least one column")
    for column, kind in schema.items():
        if problem := column_name_problem(str(column)):
            reader.fail(f".schema.{column}", problem)
        if kind not in COLUMN_TYPES:
            reader.fail(f".schema.{column}", f"unknown type {quote(kind)} (expected one of {list(COLUMN_TYPES)})")
        if str(column).startswith(INTERNAL_PREFIX):
            reader.fail(
                f".schema.{column}", f"names starting with {INTERNAL_PREFIX!r} are reserved for ODF's internal columns"
            )
    return {str(column): str(kind) for column, kind in schema.items()}


@dataclass(frozen=True)
class _Checks:
    null_limits: dict[str, float]
    ranges: dict[str, RangeSpec]
    allow_empty_days: bool
    max_shrink_fraction: float | None
    undated_rows: str


def _parse_checks(reader: _Reader, schema: dict[str, str]) -> _Checks:
    checks = _Reader(reader.file, f"{reader.where}.checks", reader.get("checks", dict, {}), CHECK_KEYS)
    null_limits: dict[str, float] = {}
    for column, limit in checks.get("max_null_fraction", dict, {}).items():
        if column not in schema or not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
            checks.fail(f".max_null_fraction.{column}", "expected a schema column with a fraction between 0 and 1")
        null_limits[column] = float(limit)
    ranges: dict[str, RangeSpec] = {}
    for column, bounds in checks.get("ranges", dict, {}).items():
        bound = _Reader(reader.file, f"{checks.where}.ranges.{column}", bounds, {"min", "max"})
        if schema.get(column) not in ("int64", "float64"):
            bound.fail("", f"ranges apply to numeric schema columns, {quote(column)} is {quote(schema.get(column))}")
        ranges[column] = RangeSpec(bound.get("min", (int, float), None), bound.get("max", (int, float), None))
    shrink = checks.get("max_shrink_fraction", (int, float), None)
    if shrink is not None and not 0 <= shrink < 1:
        checks.fail(".max_shrink_fraction", f"expected a fraction from 0 up to (not including) 1, got {quote(shrink)}")
    undated = checks.get("undated_rows", str, "quarantine")
    if undated not in UNDATED_ROWS:
        checks.fail(".undated_rows", f"expected one of {list(UNDATED_ROWS)}, got {quote(undated)}")
    return _Checks(
        null_limits,
        ranges,
        checks.get("allow_empty_days", bool, False),
        None if shrink is None else float(shrink),
        undated,
    )


def _parse_aggregate(file: Path, where: str, raw: Any, schema: dict[str, str]) -> AggregateSpec:
    reader = _Reader(file, where, raw, AGGREGATE_KEYS)
    metrics = []
    for index, raw_metric in enumerate(reader.get("metrics", list, required=True)):
        metric = _Reader(file, f"{where}.metrics[{index}]", raw_metric, METRIC_KEYS)
        agg = metric.get("agg", str, required=True)
        if agg not in METRICS:
            metric.fail(".agg", f"unknown metric {quote(agg)} (expected one of {list(METRICS)})")
        columns = metric.columns("column", schema, ())
        if raw_metric.get("column") is not None and len(columns) != 1:
            metric.fail(".column", f"expected one column, got {quote(list(columns))}")
        column = columns[0] if columns else None
        if column is None and agg != "count":
            metric.fail(".column", f"metric {quote(agg)} needs a column")
        if agg in ("sum", "mean") and schema.get(column) not in ("int64", "float64"):
            metric.fail(".column", f"{agg} needs a numeric column, {quote(column)} is {quote(schema.get(column))}")
        metrics.append(MetricSpec(agg, column, metric.get("name", str, f"{column}_{agg}" if column else "row_count")))
    if not metrics:
        reader.fail(".metrics", "must list at least one metric")
    group_by = reader.columns("group_by", schema, ())
    _refuse_output_collisions(reader, group_by, metrics)
    return AggregateSpec(
        name=reader.name("name"),
        description=reader.get("description", str, ""),
        group_by=group_by,
        metrics=tuple(metrics),
    )


def _refuse_output_collisions(reader: _Reader, group_by: tuple[str, ...], metrics: list[MetricSpec]) -> None:
    """Every output column once: ``date``, the group_by columns, then one column per metric."""
    taken = {PARTITION_COLUMN: "the partition column", **{column: "a group_by column" for column in group_by}}
    for index, metric in enumerate(metrics):
        where = f".metrics[{index}].name"
        if metric.name.startswith(INTERNAL_PREFIX):
            reader.fail(where, f"names starting with {INTERNAL_PREFIX!r} are reserved for ODF's internal columns")
        if metric.name in taken:
            reader.fail(
                where, f"{quote(metric.name)} is already {taken[metric.name]}: each output column needs its own name"
            )
        taken[metric.name] = f"the name of metrics[{index}]"


def _refuse_reserved_columns(reader: _Reader, schema: dict[str, str], date_column: str | None) -> None:
    """``date`` is the partition column ODF adds to every row. A source column of that name would
    be overwritten by it, unless it is the date_column itself, typed date: then both are equal."""
    if PARTITION_COLUMN in schema and not (date_column == PARTITION_COLUMN and schema[PARTITION_COLUMN] == "date"):
        reader.fail(
            f".schema.{PARTITION_COLUMN}",
            f"{PARTITION_COLUMN!r} is reserved for the partition column (each row's day), which would overwrite it; "
            f"allowed only as the date_column with type date",
        )


def _is_valid_cron(expression: str) -> bool:
    """Dagster's own validation, through its public API: what the source's schedule will accept."""
    import warnings

    import dagster as dg

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unusual intervals only warn; the real schedule warns again
            dg.ScheduleDefinition(name="fetch_cron", cron_schedule=expression, job_name="fetch_cron")
    except dg.DagsterError:
        return False
    return expression == expression.strip()


def _single_character(reader: _Reader, key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
        reader.fail(f".{key}", f"expected one character (not a line break), got {quote(value)}")
    return value


def _parse_csv_options(reader: _Reader, fmt: str) -> CsvOptions:
    raw = reader.get("csv", dict, None)
    if raw is None:
        return CsvOptions()
    if fmt != "csv":
        reader.fail(".csv", f"applies to format csv only, this source is {quote(fmt)}")
    options = _Reader(reader.file, f"{reader.where}.csv", raw, CSV_KEYS)
    nulls = options.get("null_values", (list, str), [])
    nulls = [nulls] if isinstance(nulls, str) else nulls
    for index, token in enumerate(nulls):
        if not isinstance(token, str):
            options.fail(f".null_values[{index}]", f"expected a string such as 'NA', got {quote(token)}")
    delimiter = _single_character(options, "delimiter", options.get("delimiter", str, ","))
    quote_char = raw.get("quote_char", '"')
    # null or "" turns quoting off, for files that use quotes as ordinary characters.
    quote_char = None if quote_char in (None, "") else _single_character(options, "quote_char", quote_char)
    if quote_char == delimiter:
        options.fail(".quote_char", "must differ from the delimiter")
    encoding = options.get("encoding", str, "utf8")
    if encoding not in CSV_ENCODINGS:
        options.fail(".encoding", f"unknown encoding {quote(encoding)} (expected one of {list(CSV_ENCODINGS)})")
    decimal_comma = options.get("decimal_comma", bool, False)
    if decimal_comma and delimiter == ",":
        options.fail(".decimal_comma", "needs a delimiter other than ',' (e.g. ';')")
    header = options.get("header", bool, True)
    return CsvOptions(tuple(nulls), delimiter, quote_char, encoding, decimal_comma, header)


def _parse_formats(reader: _Reader, schema: dict[str, str]) -> dict[str, str]:
    formats = reader.get("formats", dict, {})
    for column, pattern in formats.items():
        if schema.get(column) not in ("date", "datetime"):
            reader.fail(
                f".formats.{column}",
                f"formats apply to date and datetime schema columns, {quote(column)} is {quote(schema.get(column))}",
            )
        if not isinstance(pattern, str) or "%" not in pattern:
            reader.fail(f".formats.{column}", f"expected a strptime format such as '%Y/%m/%d', got {quote(pattern)}")
    return {str(column): pattern for column, pattern in formats.items()}


def _parse_timezone(reader: _Reader) -> str | None:
    name = reader.get("timezone", str, None)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        reader.fail(
            ".timezone", f"unknown time zone {quote(name)} (expected an IANA name such as 'Europe/Paris' or 'UTC')"
        )
    return name


def _choice(reader: _Reader, key: str, choices: tuple[str, ...]) -> str:
    value = reader.get(key, str, choices[0])
    if value not in choices:
        reader.fail(f".{key}", f"expected one of {list(choices)}, got {quote(value)}")
    return value


def _parse_options(reader: _Reader, fmt: str, schema: dict[str, str]) -> ParseOptions:
    return ParseOptions(
        _parse_csv_options(reader, fmt),
        _parse_formats(reader, schema),
        _parse_timezone(reader),
        _choice(reader, "ambiguous_times", AMBIGUOUS_TIMES),
        _choice(reader, "nonexistent_times", NONEXISTENT_TIMES),
    )


def _parse_rename(reader: _Reader, schema: dict[str, str]) -> dict[str, str]:
    """``rename: {source name: schema name}``: a file's column whose name is taken (``date``),
    unwieldy or unstable gets the schema's name as it is read."""
    rename = reader.get("rename", dict, {})
    targets: dict[str, str] = {}
    for source_name, target in rename.items():
        if not isinstance(target, str) or target not in schema:
            reader.fail(f".rename.{source_name}", f"expected a schema column to rename to, got {quote(target)}")
        if target in targets:
            reader.fail(
                f".rename.{source_name}", f"{quote(target)} is already the new name of {quote(targets[target])}"
            )
        targets[target] = str(source_name)
    return {str(source_name): target for source_name, target in rename.items()}


def _resolve_url(reader: _Reader, key: str) -> str | None:
    """Relative paths are files next to the registry, so a registry folder is self-contained."""
    value = reader.get(key, str, None)
    if value is None or "://" in value:
        return value
    return (reader.file.parent / value).resolve().as_uri().replace("%7Bdate%7D", "{date}")


def parse_source(file: Path, index: int, raw: Any) -> SourceSpec:
    reader = _Reader(file, f"sources[{index}]", raw, SOURCE_KEYS)
    name = reader.name("name")
    reader.where = f"sources[{index}] ({name})"
    schema = _parse_schema(reader)
    fmt = reader.get("format", str, required=True)
    if fmt not in FORMATS:
        reader.fail(".format", f"unknown format {quote(fmt)} (expected one of {list(FORMATS)})")
    url, template = _resolve_url(reader, "url"), _resolve_url(reader, "url_template")
    date_column = reader.get("date_column", str, None)
    if (url is None) == (template is None):
        reader.fail("", "set exactly one of 'url_template' (one file per day, with {date}) or 'url' (whole file)")
    if template is not None and "{date}" not in template:
        reader.fail(".url_template", "must contain {date}")
    if url is not None and date_column is None:
        reader.fail(".date_column", "is required with 'url': it says which rows belong to which day")
    if date_column is not None and schema.get(date_column) not in ("date", "datetime"):
        reader.fail(
            ".date_column", f"must be a schema column of type date or datetime, got {quote(schema.get(date_column))}"
        )
    _refuse_reserved_columns(reader, schema, date_column)
    start, end = reader.date("start_date", ...), reader.date("end_date", None)
    if end is not None and end < start:
        reader.fail(".end_date", f"the last day with data must not be before start_date {start}")
    cron = reader.get("fetch_cron", str, SourceSpec.fetch_cron)
    if not _is_valid_cron(cron):
        reader.fail(
            ".fetch_cron",
            f"expected a 5-field cron expression that Dagster accepts, e.g. '30 1 * * *', got {quote(cron)}",
        )
    freshness = reader.get("freshness_cron", str, cron)
    if freshness != "none" and not _is_valid_cron(freshness):
        reader.fail(
            ".freshness_cron",
            f"expected a 5-field cron expression that Dagster accepts, or none, got {quote(freshness)}",
        )
    if freshness == "none" or ("freshness_cron" not in raw and end is not None and end < date.today()):
        freshness = None  # an ended source does not arrive any more: no freshness to watch
    declared_checks = _parse_checks(reader, schema)
    aggregates = tuple(
        _parse_aggregate(file, f"{reader.where}.aggregates[{i}]", raw_aggregate, schema)
        for i, raw_aggregate in enumerate(reader.get("aggregates", list, []))
    )
    first_index = {}
    for index, aggregate in enumerate(aggregates):
        if aggregate.name in first_index:
            reader.fail(
                f".aggregates[{index}].name",
                f"{quote(aggregate.name)} is already the name of aggregates[{first_index[aggregate.name]}] "
                "(both would be one asset)",
            )
        first_index[aggregate.name] = index
    return SourceSpec(
        name=name,
        description=reader.get("description", str, required=True),
        license=reader.get("license", str, required=True),
        owner=reader.get("owner", str, required=True),
        group=reader.name("group") if "group" in raw else "sources",
        format=fmt,
        schema=schema,
        start_date=start,
        end_date=end,
        registry_file=file,
        url=url,
        url_template=template,
        date_column=date_column,
        fetch_cron=cron,
        freshness_cron=freshness,
        active=reader.get("active", bool, True),
        key=reader.columns("key", schema, ()),
        max_null_fraction=declared_checks.null_limits,
        allow_empty_days=declared_checks.allow_empty_days,
        ranges=declared_checks.ranges,
        max_shrink_fraction=declared_checks.max_shrink_fraction,
        undated_rows=declared_checks.undated_rows,
        rename=_parse_rename(reader, schema),
        aggregates=aggregates,
        parsing=_parse_options(reader, fmt, schema),
    )


# Registry input bounds (README, Security). A registry is a few kilobytes of declarations.
MAX_REGISTRY_BYTES = 4 << 20
MAX_YAML_DEPTH = 32
# libyaml (the C parser), with a pure-Python fallback where PyYAML was built without it.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _RefusedYaml(Exception):
    """Valid YAML that a registry must not use; the message says what and where."""


def _refuse_anchors_and_depth(text: str) -> None:
    """One pass over libyaml's events, before any node is built: anchors and aliases (a few hundred
    bytes of nested aliases, "billion laughs", expand to gigabytes wherever the document is walked
    or quoted; registries have no need for them) and nesting deeper than ``MAX_YAML_DEPTH``."""
    loader = _YamlLoader(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise _RefusedYaml(
                    f"line {event.start_mark.line + 1}: YAML anchors and aliases (&name, *name) are not allowed "
                    "in registries; write each value out"
                )
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise _RefusedYaml(
                        f"line {event.start_mark.line + 1}: nested more than {MAX_YAML_DEPTH} levels deep"
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    finally:
        loader.dispose()


def _refuse_duplicate_keys(file: Path, node: yaml.Node, path: str) -> None:
    """A key written twice in one mapping: YAML keeps the last silently, hiding the first. Keys are
    compared as the text written (``1`` and ``'1'`` are the same column once read as strings)."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            label = f"{path}[{index}]"
            if path == "sources" and isinstance(item, yaml.MappingNode):
                names = [
                    value.value
                    for key, value in item.value
                    if key.value == "name" and isinstance(value, yaml.ScalarNode)
                ]
                label += f" ({_capped(names[0])})" if names else ""
            _refuse_duplicate_keys(file, item, label)
    elif isinstance(node, yaml.MappingNode):
        first_line: dict[Any, int] = {}
        for key, value in node.value:
            text = key.value if isinstance(key, yaml.ScalarNode) else f"<{key.tag}>"
            where = f"{path}.{text}" if path else str(text)
            identity = key.value if isinstance(key, yaml.ScalarNode) else id(key)
            if identity in first_line:
                raise RegistryError(
                    f"{file}: {_capped(where)}: key written twice in one mapping (lines {first_line[identity]} and "
                    f"{key.start_mark.line + 1}); YAML would silently keep only the last"
                )
            first_line[identity] = key.start_mark.line + 1
            _refuse_duplicate_keys(file, value, where)


def _read_registry_text(file: Path) -> str:
    """The file's text: a regular file (never a directory, FIFO or device, which would fail raw,
    block or never end) of at most ``MAX_REGISTRY_BYTES``."""
    try:
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise RegistryError(f"{file}: is a directory, not a registry file") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise RegistryError(f"{file}: is {kind}; a registry must be a regular file")
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(MAX_REGISTRY_BYTES + 1)
    if len(data) > MAX_REGISTRY_BYTES:
        raise RegistryError(f"{file}: larger than the registry limit of {MAX_REGISTRY_BYTES} bytes")
    return data.decode("utf-8")


def _read_yaml(file: Path) -> Any:
    """The registry document, refusing anchors, aliases, deep nesting and duplicate keys (see above)."""
    text = _read_registry_text(file)
    _refuse_anchors_and_depth(text)
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(file, node, "")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_registry_file(file: Path) -> list[SourceSpec]:
    file = Path(file)
    try:
        document = _read_yaml(file)
    except FileNotFoundError as error:
        raise RegistryError(f"{file}: registry file not found") from error
    except OSError as error:  # permissions, a dangling link, …: one line, not a traceback
        raise RegistryError(f"{file}: cannot read: {error.strerror or type(error).__name__}") from None
    except yaml.YAMLError as error:
        raise RegistryError(f"{file}: not valid YAML: {error}") from error
    except _RefusedYaml as error:
        raise RegistryError(f"{file}: {error}") from None
    except RecursionError:
        raise RegistryError(f"{file}: not valid YAML: nested too deeply") from None
    except UnicodeDecodeError as error:
        raise RegistryError(f"{file}: not UTF-8 text (byte {error.start})") from None
    # consolidations: are parsed by odf_assets.sources.consolidations once every file's sources are known.
    top = _Reader(file, "", document, {"sources", "consolidations"})
    only_consolidations = isinstance(document, dict) and "consolidations" in document
    raw_sources = top.get("sources", list, [] if only_consolidations else ...)
    return [parse_source(file, index, raw) for index, raw in enumerate(raw_sources)]


def load_registry(files: list[Path]) -> list[SourceSpec]:
    """All sources from ``files`` in order; a name declared twice is an error naming both files."""
    seen: dict[str, Path] = {}
    sources = []
    for file in files:
        for source in load_registry_file(file):
            if source.name in seen:
                raise RegistryError(f"{file}: source {quote(source.name)} is already declared in {seen[source.name]}")
            seen[source.name] = file
            sources.append(source)
    return sources
