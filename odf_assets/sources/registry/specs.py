"""The frozen specs the rest of ODF uses: what a registry declares, validated and resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


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
    # Float columns holding amounts with this many decimal places (money): their aggregate sums and
    # means are exact integer sums (odf_assets/deterministic.py); a value with more is refused.
    decimals: dict[str, int] = field(default_factory=dict)
    aggregates: tuple[AggregateSpec, ...] = ()
    parsing: ParseOptions = field(default_factory=ParseOptions)

    def url_for(self, partition_date: str) -> str:
        """The URL holding ``partition_date``'s rows (the whole file in whole-file mode)."""
        return self.url_template.replace("{date}", partition_date) if self.url_template else str(self.url)
