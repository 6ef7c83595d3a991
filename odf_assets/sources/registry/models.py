"""A registry file's shape as pydantic models: keys, types, choices and bounds of each value.

Unknown keys are refused (``extra="forbid"``) and values are strict (``"yes"`` is not a bool). What
depends on other keys (a column in the schema, one of url / url_template) is checked when the
models become specs (``sources.py``, ``consolidations.py``). ``RegistryDocument.model_json_schema()``
is the schema editors use (examples/registry.schema.json).
"""

from __future__ import annotations

import types
import typing
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from odf_assets.sources.registry.errors import NAME
from odf_core.text import quote

ColumnType = Literal["string", "int64", "float64", "bool", "date", "datetime"]
Format = Literal["csv", "json", "jsonl", "parquet"]
Metric = Literal["count", "count_non_null", "sum", "mean", "min", "max", "distinct_count"]
COLUMN_TYPES: tuple[str, ...] = typing.get_args(ColumnType)
FORMATS: tuple[str, ...] = typing.get_args(Format)
METRICS: tuple[str, ...] = typing.get_args(Metric)
# Naive local times that occur twice (DST ends) or never (DST starts) in ``timezone``: Polars' and
# pandas' choices. "raise" reports the value as not valid (the default: nothing is guessed).
AMBIGUOUS_TIMES = ("raise", "earliest", "latest")
NONEXISTENT_TIMES = ("raise", "shift_forward")
CSV_ENCODINGS = ("utf8", "latin1")
# What happens to rows whose date_column cannot be read: kept aside (other days go on), or every day fails.
UNDATED_ROWS = ("quarantine", "fail")
COMBINE = ("join", "union")
# Values whose unknown choice is named by what it is ("unknown format 'xlsx'").
CHOICE_NOUNS = {"format": "format", "schema": "type", "agg": "metric", "encoding": "encoding", "combine": "combination"}


def odf_error(message: str) -> PydanticCustomError:
    """An error whose message ODF words in full (translated as is into the registry's error line)."""
    return PydanticCustomError("odf", message)


def _name(value: str) -> str:
    if not NAME.fullmatch(value):
        raise odf_error(f"{quote(value)} must be lowercase letters, digits and '_', starting with a letter")
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise odf_error(f"expected a date YYYY-MM-DD, got {quote(value)}") from None
    return value


def _cron(value: str) -> str:
    from odf_assets.sources.registry.checks import is_valid_cron

    if not is_valid_cron(value):
        raise odf_error(
            f"expected a 5-field cron expression that Dagster accepts, e.g. '30 1 * * *', got {quote(value)}"
        )
    return value


def _freshness(value: str) -> str:
    from odf_assets.sources.registry.checks import is_valid_cron

    if value != "none" and not is_valid_cron(value):
        raise odf_error(f"expected a 5-field cron expression that Dagster accepts, or none, got {quote(value)}")
    return value


def _column_name(value: Any) -> str:
    from odf_assets.sources.registry.checks import column_name_problem

    text = str(value)  # YAML reads a column named 1 as an int: columns are text
    if problem := column_name_problem(text):
        raise odf_error(problem)
    return text


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise odf_error(
            f"unknown time zone {quote(value)} (expected an IANA name such as 'Europe/Paris' or 'UTC')"
        ) from None
    return value


def _one_character(value: Any) -> Any:
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
        raise odf_error(f"expected one character (not a line break), got {quote(value)}")
    return value


def _as_list(value: Any) -> Any:
    """One column may be written alone: ``key: id`` is ``key: [id]``."""
    return [value] if isinstance(value, str) else value


def _at_least_one(what: str):
    def check(value: Any) -> Any:
        if not value:
            raise odf_error(f"must {what}")
        return value

    return AfterValidator(check)


# Patterns and bounds checked by ODF's validators (for ODF's wording) are shown to editors too.
Name = Annotated[str, AfterValidator(_name), Field(json_schema_extra={"pattern": f"^{NAME.pattern}$"})]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Cron = Annotated[str, AfterValidator(_cron)]
ColumnName = Annotated[str, BeforeValidator(_column_name), Field(json_schema_extra={"maxLength": 128})]
_TEXT_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
Columns = Annotated[list[str], BeforeValidator(_as_list), WithJsonSchema(_TEXT_OR_LIST)]
# Mappings whose values are checked against the schema in sources.py, with ODF's messages.
FractionByColumn = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}}),
]
TextByColumn = Annotated[dict[str, Any], WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}})]
Fraction = Annotated[float, Field(ge=0, le=1)]


# Empty defaults made by Python functions, not the builtins ``list``/``dict``: pydantic inspects a
# default factory's signature, and a builtin's comes from its text signature, which compiles the
# tokenizer's large regular expression (a quarter of importing this module).
def _empty_list() -> list:
    return []


def _empty_mapping() -> dict:
    return {}


class _Strict(BaseModel):
    # defer_build: a registry is only ever validated whole, so the document's one validator covers the
    # nested models; building each model's own validator at import cost more than that one.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class Range(_Strict):
    min: float | None = None
    max: float | None = None


MAX_DECIMALS = 6  # whole units of 10^-6 still sum exactly in Int64 up to 9.2e12


def _decimal_places(value: Any, handler: ValidatorFunctionWrapHandler) -> int:
    try:
        return handler(value)
    except ValidationError:
        raise odf_error(f"expected a whole number of decimal places 0..{MAX_DECIMALS}, got {quote(value)}") from None


# Whether each column is a float64 schema column is checked in sources.py.
DecimalsByColumn = dict[str, Annotated[int, Field(strict=True, ge=0, le=MAX_DECIMALS), WrapValidator(_decimal_places)]]


class Checks(_Strict):
    max_null_fraction: FractionByColumn = Field(
        default_factory=_empty_mapping, description="{column: fraction 0..1} (WARN)"
    )
    ranges: dict[str, Range] = Field(default_factory=_empty_mapping, description="{numeric column: {min, max}} (WARN)")
    allow_empty_days: bool = Field(False, description="Days without rows are published empty.")
    max_shrink_fraction: Annotated[float, Field(ge=0, lt=1)] | None = Field(
        None, description="A fetch may cut a stored day's rows by at most this fraction."
    )
    undated_rows: Literal["quarantine", "fail"] = Field("quarantine", description="Rows without a readable day.")


class CsvModel(_Strict):
    null_values: Columns = Field(default_factory=_empty_list, description="Tokens read as null, e.g. ['NA'].")
    delimiter: Annotated[str, BeforeValidator(_one_character)] = Field(",", description="One character.")
    # null or "" turns quoting off, for files that use quotes as ordinary characters.
    quote_char: Annotated[str | None, BeforeValidator(lambda v: None if v in (None, "") else _one_character(v))] = '"'
    encoding: Literal["utf8", "latin1"] = "utf8"
    decimal_comma: bool = Field(False, description="1.234,5: needs a delimiter other than ','.")
    header: bool = Field(True, description="false: no header line; the columns are the schema's, in order.")


class MetricModel(_Strict):
    agg: Metric
    column: Columns | None = Field(None, description="One column; count without one counts rows.")
    name: str | None = Field(None, description="Output column (default <column>_<agg>, or row_count).")


class AggregateModel(_Strict):
    name: Name
    description: str = ""
    group_by: Columns = Field(
        default_factory=_empty_list, description="One row per day and these values; [] one per day."
    )
    metrics: Annotated[list[MetricModel], _at_least_one("list at least one metric")]


class SourceModel(_Strict):
    """One source. Field order is the order problems are reported in."""

    name: Name = Field(description="Lowercase identifier; the asset key is raw/<name>.")
    schema_: Annotated[dict[ColumnName, ColumnType], _at_least_one("declare at least one column")] = Field(
        alias="schema", description="{column: type}"
    )
    format: Format = Field(description="gzip, zstd, bz2 or a one-file zip are detected by content.")
    url: str | None = Field(None, description="One whole file, cut into days by date_column.")
    url_template: str | None = Field(None, description="One file per day; {date} is YYYY-MM-DD.")
    date_column: str | None = Field(None, description="The column holding each row's day (required with url).")
    start_date: IsoDate = Field(description="The first partition, YYYY-MM-DD.")
    end_date: IsoDate | None = Field(None, description="The last day with data; omit for open-ended sources.")
    fetch_cron: Cron = Field("30 1 * * *", description="When the daily schedule fetches yesterday (5-field cron).")
    freshness_cron: Annotated[str, AfterValidator(_freshness)] | None = Field(
        None, description="Freshness deadline (default fetch_cron); none for no policy."
    )
    checks: Checks = Field(default_factory=Checks)
    aggregates: list[AggregateModel] = Field(default_factory=_empty_list, description="One asset per aggregate.")
    description: str
    license: str
    owner: str = Field(description="The publisher (metadata; the Dagster owner is ODF_PIPELINE_OWNER).")
    group: Name = Field("sources", description="Dagster asset group of the raw and aggregate assets.")
    active: bool = Field(True, description="false keeps the declaration without building assets.")
    key: Columns = Field(default_factory=_empty_list, description="Columns that identify a row.")
    rename: TextByColumn = Field(default_factory=_empty_mapping, description="{source column: schema column}")
    decimals: DecimalsByColumn = Field(
        default_factory=_empty_mapping,
        description="{float64 column: decimal places} for amounts (money): exact sums; more places are refused.",
    )
    csv: CsvModel | None = None
    formats: TextByColumn = Field(default_factory=_empty_mapping, description="{date/datetime column: strptime format}")
    timezone: Annotated[str, AfterValidator(_timezone)] | None = Field(
        None, description="IANA zone of datetime values written without an offset (default UTC)."
    )
    ambiguous_times: Literal["raise", "earliest", "latest"] = Field("raise", description="A time DST repeats.")
    nonexistent_times: Literal["raise", "shift_forward"] = Field("raise", description="A time DST skips.")


class InputModel(_Strict):
    source: str
    columns: list[str] | TextByColumn | None = Field(
        None, description="Columns to take (a list) or {source column: output name}; default all."
    )


class ConsolidationModel(_Strict):
    name: Name
    description: str = ""
    group: Name = "consolidations"
    combine: Literal["join", "union"]
    inputs: list[InputModel] = Field(description="Two or more registry sources.")
    keys: Columns = Field(
        default_factory=_empty_list, description="Join keys, or the columns a union stacks, besides date."
    )
    source_column: str | None = Field(None, description="Union only: a column naming each row's input source.")
    group_by: Columns = Field(default_factory=_empty_list)
    metrics: Annotated[list[MetricModel], _at_least_one("list at least one metric")]


class RegistryDocument(_Strict):
    """A registry file: ``sources:`` and/or ``consolidations:``."""

    model_config = ConfigDict(title="ODF source registry")
    sources: list[SourceModel] = Field(default_factory=_empty_list)
    consolidations: list[ConsolidationModel] | None = None


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The keys the mapping at ``loc`` (inside ``model``) may hold, for unknown-key errors."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = next((f for n, f in annotation.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(annotation) in (list, dict):
            annotation = typing.get_args(annotation)[-1]
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [field.alias or name for name, field in annotation.model_fields.items()]
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _unwrap(members[0]) if len(members) == 1 else annotation
    return annotation


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def registry_json_schema() -> dict[str, Any]:
    """The JSON schema of a registry file, for editors (examples/registry.schema.json)."""
    return {"$schema": JSON_SCHEMA_DIALECT, **RegistryDocument.model_json_schema(by_alias=True)}
