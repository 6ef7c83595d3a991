"""The source registry: open datasets declared in YAML, parsed into validated, immutable specs.

Every error names the registry file and the key path (``sources[1].schema.amount``) and says
what was expected, because registries are edited by operators, not by the code's authors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

DEFAULT_REGISTRY = Path(__file__).with_name("sources.yaml")
COLUMN_TYPES = ("string", "int64", "float64", "bool", "date", "datetime")
FORMATS = ("csv", "json", "jsonl", "parquet")
METRICS = ("count", "sum", "mean", "min", "max", "distinct_count")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CRON = re.compile(r"^\S+ \S+ \S+ \S+ \S+$")

SOURCE_KEYS = {
    "name", "description", "license", "owner", "url", "url_template", "date_column", "format", "schema",
    "start_date", "end_date", "fetch_cron", "active", "key", "checks", "aggregates", "group",
}  # fmt: skip
CHECK_KEYS = {"max_null_fraction", "ranges"}
AGGREGATE_KEYS = {"name", "description", "group_by", "metrics"}
METRIC_KEYS = {"agg", "column", "name"}


class RegistryError(ValueError):
    """A registry file that cannot be used; the message names the file, the key and the expectation."""


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
    active: bool = True
    key: tuple[str, ...] = ()
    max_null_fraction: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, RangeSpec] = field(default_factory=dict)
    aggregates: tuple[AggregateSpec, ...] = ()

    def url_for(self, partition_date: str) -> str:
        """The URL holding ``partition_date``'s rows (the whole file in whole-file mode)."""
        return self.url_template.replace("{date}", partition_date) if self.url_template else str(self.url)


class _Reader:
    """Typed access to one mapping in a registry file, with errors that say where."""

    def __init__(self, file: Path, where: str, mapping: Any, allowed: set[str]):
        self.file, self.where = file, where
        if not isinstance(mapping, dict):
            self.fail("", f"expected a mapping, got {type(mapping).__name__}")
        unknown = sorted(set(mapping) - allowed)
        if unknown:
            self.fail(f".{unknown[0]}", f"unknown key (expected one of {sorted(allowed)})")
        self.mapping = mapping

    def fail(self, key: str, message: str) -> None:
        raise RegistryError(f"{self.file}: {self.where}{key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., required: bool = False) -> Any:
        if key not in self.mapping or self.mapping[key] is None:
            if required or default is ...:
                self.fail(f".{key}", "is required")
            return default
        value = self.mapping[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(f".{key}", f"expected {expected}, got {type(value).__name__} {value!r}")
        return value

    def name(self, key: str) -> str:
        value = self.get(key, str, required=True)
        if not _NAME.match(value):
            self.fail(f".{key}", f"{value!r} must be lowercase letters, digits and '_', starting with a letter")
        return value

    def date(self, key: str, default: Any = ...) -> date | None:
        value = self.get(key, (str, date), default)
        if value is None or isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f".{key}", f"expected a date YYYY-MM-DD, got {value!r}")

    def columns(self, key: str, schema: dict[str, str], default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, (list, str), default)
        columns = (value,) if isinstance(value, str) else tuple(value)
        for column in columns:
            if column not in schema:
                self.fail(f".{key}", f"column {column!r} is not in the schema {sorted(schema)}")
        return columns


def _parse_schema(reader: _Reader) -> dict[str, str]:
    schema = reader.get("schema", dict, required=True)
    if not schema:
        reader.fail(".schema", "must declare at least one column")
    for column, kind in schema.items():
        if kind not in COLUMN_TYPES:
            reader.fail(f".schema.{column}", f"unknown type {kind!r} (expected one of {list(COLUMN_TYPES)})")
    return {str(column): str(kind) for column, kind in schema.items()}


def _parse_checks(reader: _Reader, schema: dict[str, str]) -> tuple[dict[str, float], dict[str, RangeSpec]]:
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
            bound.fail("", f"ranges apply to numeric schema columns, {column!r} is {schema.get(column)!r}")
        ranges[column] = RangeSpec(bound.get("min", (int, float), None), bound.get("max", (int, float), None))
    return null_limits, ranges


def _parse_aggregate(file: Path, where: str, raw: Any, schema: dict[str, str]) -> AggregateSpec:
    reader = _Reader(file, where, raw, AGGREGATE_KEYS)
    metrics = []
    for index, raw_metric in enumerate(reader.get("metrics", list, required=True)):
        metric = _Reader(file, f"{where}.metrics[{index}]", raw_metric, METRIC_KEYS)
        agg = metric.get("agg", str, required=True)
        if agg not in METRICS:
            metric.fail(".agg", f"unknown metric {agg!r} (expected one of {list(METRICS)})")
        column = metric.columns("column", schema, ())[0] if "column" in raw_metric else None
        if column is None and agg != "count":
            metric.fail(".column", f"metric {agg!r} needs a column")
        if agg in ("sum", "mean") and schema.get(column) not in ("int64", "float64"):
            metric.fail(".column", f"{agg} needs a numeric column, {column!r} is {schema.get(column)!r}")
        metrics.append(MetricSpec(agg, column, metric.get("name", str, f"{column}_{agg}" if column else "row_count")))
    if not metrics:
        reader.fail(".metrics", "must list at least one metric")
    return AggregateSpec(
        name=reader.name("name"),
        description=reader.get("description", str, ""),
        group_by=reader.columns("group_by", schema, ()),
        metrics=tuple(metrics),
    )


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
        reader.fail(".format", f"unknown format {fmt!r} (expected one of {list(FORMATS)})")
    url, template = _resolve_url(reader, "url"), _resolve_url(reader, "url_template")
    date_column = reader.get("date_column", str, None)
    if (url is None) == (template is None):
        reader.fail("", "set exactly one of 'url_template' (one file per day, with {date}) or 'url' (whole file)")
    if template is not None and "{date}" not in template:
        reader.fail(".url_template", "must contain {date}")
    if url is not None and date_column is None:
        reader.fail(".date_column", "is required with 'url': it says which rows belong to which day")
    if date_column is not None and schema.get(date_column) not in ("date", "datetime"):
        reader.fail(".date_column", f"must be a schema column of type date or datetime, got {schema.get(date_column)!r}")
    start, end = reader.date("start_date", ...), reader.date("end_date", None)
    if end is not None and end < start:
        reader.fail(".end_date", f"the last day with data must not be before start_date {start}")
    cron = reader.get("fetch_cron", str, SourceSpec.fetch_cron)
    if not _CRON.match(cron):
        reader.fail(".fetch_cron", f"expected a 5-field cron expression, got {cron!r}")
    null_limits, ranges = _parse_checks(reader, schema)
    aggregates = tuple(
        _parse_aggregate(file, f"{reader.where}.aggregates[{i}]", raw_aggregate, schema)
        for i, raw_aggregate in enumerate(reader.get("aggregates", list, []))
    )
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
        active=reader.get("active", bool, True),
        key=reader.columns("key", schema, ()),
        max_null_fraction=null_limits,
        ranges=ranges,
        aggregates=aggregates,
    )


def load_registry_file(file: Path) -> list[SourceSpec]:
    file = Path(file)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise RegistryError(f"{file}: registry file not found") from error
    except yaml.YAMLError as error:
        raise RegistryError(f"{file}: not valid YAML: {error}") from error
    top = _Reader(file, "", document, {"sources"})
    return [parse_source(file, index, raw) for index, raw in enumerate(top.get("sources", list, required=True))]


def load_registry(files: list[Path]) -> list[SourceSpec]:
    """All sources from ``files`` in order; a name declared twice is an error naming both files."""
    seen: dict[str, Path] = {}
    sources = []
    for file in files:
        for source in load_registry_file(file):
            if source.name in seen:
                raise RegistryError(f"{file}: source {source.name!r} is already declared in {seen[source.name]}")
            seen[source.name] = file
            sources.append(source)
    return sources
