"""Consolidations: one daily aggregate over two or more registry sources, joined or stacked.

Declared in a registry file's top-level ``consolidations:`` list, after every file's sources are
loaded (an input may come from another file), and validated then with the registry's error style:
file, key path, expectation. ``combine_inputs`` is the pure Polars half; the asset lives in
``consolidation_assets``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odf_assets.quality import registry_dtypes
from odf_assets.sources import registry
from odf_assets.sources.registry import (
    INTERNAL_PREFIX,
    PARTITION_COLUMN,
    AggregateSpec,
    RegistryError,
    SourceSpec,
    _Reader,
)
from odf_core.text import quote

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

# Not "on": YAML 1.1 reads a bare on: as the boolean true.
CONSOLIDATION_KEYS = {
    "name",
    "description",
    "group",
    "combine",
    "inputs",
    "keys",
    "source_column",
    "group_by",
    "metrics",
}
INPUT_KEYS = {"source", "columns"}
COMBINE = ("join", "union")
NUMERIC = ("int64", "float64")


@dataclass(frozen=True)
class InputSpec:
    source: str
    # Source column → output column, in output order.
    columns: dict[str, str]
    # Output column → registry type.
    schema: dict[str, str]
    # The source declares days without rows (checks.allow_empty_days): such a day is empty, not missing.
    allow_empty_days: bool = False


@dataclass(frozen=True)
class ConsolidationSpec:
    name: str
    description: str
    group: str
    combine: str
    inputs: tuple[InputSpec, ...]
    # Join keys, or the columns stacked by a union, besides date.
    keys: tuple[str, ...]
    # Union only: a column naming each row's input source.
    source_column: str | None
    # The combined rows' columns (date excluded) and their types, which metrics are checked against.
    schema: dict[str, str]
    aggregate: AggregateSpec
    start_date: date
    end_date: date | None
    registry_file: Path


def _input(file: Path, where: str, raw: Any, sources: Mapping[str, SourceSpec], keys: tuple[str, ...]) -> InputSpec:
    reader = _Reader(file, where, raw, INPUT_KEYS)
    name = reader.get("source", str, required=True)
    source = sources.get(name)
    if source is None:
        reader.fail(".source", f"unknown source {quote(name)} (declared sources: {quote(sorted(sources))})")
    if not source.active:
        reader.fail(".source", f"source {quote(name)} is not active (active: false builds no raw asset to read)")
    reader.where = f"{where} ({name})"
    own = {column: kind for column, kind in source.schema.items() if column != PARTITION_COLUMN}
    raw_columns = reader.get("columns", (list, dict), None)
    if raw_columns is None:
        # A date-typed date_column only repeats the partition column: left out unless listed.
        mapping = {c: c for c, kind in own.items() if not (c == source.date_column and kind == "date")}
    elif isinstance(raw_columns, list):
        mapping = {column: column for column in raw_columns}
    else:
        mapping = dict(raw_columns)
    schema: dict[str, str] = {}
    for column, output in mapping.items():
        if column == PARTITION_COLUMN:
            reader.fail(
                ".columns", f"{PARTITION_COLUMN!r} is the partition column, joined on and kept without being listed"
            )
        if column not in own:
            reader.fail(".columns", f"column {quote(column)} is not in {name}'s schema {quote(sorted(own))}")
        if (
            not isinstance(output, str)
            or not output
            or output == PARTITION_COLUMN
            or output.startswith(INTERNAL_PREFIX)
        ):
            reader.fail(
                f".columns.{column}",
                f"output name {quote(output)} must be a non-empty name other than 'date' and '__odf…'",
            )
        if output in schema:
            reader.fail(f".columns.{column}", f"output name {quote(output)} is taken twice in this input")
        schema[output] = own[column]
    # Key columns come along without being listed, unless a rename already provides them.
    for key in keys:
        if key not in schema and key in own and key not in mapping:
            mapping[key], schema[key] = key, own[key]
    return InputSpec(name, {str(c): o for c, o in mapping.items()}, schema, source.allow_empty_days)


def _combined_schema(
    reader: _Reader, combine: str, inputs: Sequence[InputSpec], keys: tuple[str, ...]
) -> dict[str, str]:
    """Output columns and types; join/union columns must exist in every input with compatible types."""
    schema: dict[str, str] = {}
    for column in keys:
        kinds = {}
        for index, spec in enumerate(inputs):
            if column not in spec.schema:
                reader.fail(
                    ".keys",
                    f"column {quote(column)} is not among inputs[{index}] ({spec.source})'s columns "
                    f"{quote(list(spec.schema))}",
                )
            kinds[spec.source] = spec.schema[column]
        distinct = set(kinds.values())
        if len(distinct) > 1 and not (combine == "union" and distinct <= set(NUMERIC)):
            allowed = (
                "the same type" if combine == "join" else "the same type (or int64 and float64, stacked as float64)"
            )
            reader.fail(".keys", f"column {quote(column)} has types {quote(kinds)}: {combine} needs {allowed}")
        schema[column] = "float64" if len(distinct) > 1 else distinct.pop()
    if combine == "union":
        return schema
    owner = {column: "the join keys" for column in keys}
    for index, spec in enumerate(inputs):
        for column, kind in spec.schema.items():
            if column in keys:
                continue
            if column in owner:
                reader.fail(
                    f".inputs[{index}].columns",
                    f"column {quote(column)} is also in {owner[column]}: "
                    f"rename one (columns: {{{column}: new_name}}) or leave it out",
                )
            owner[column], schema[column] = f"inputs[{index}] ({spec.source})", kind
    return schema


def _date_range(
    reader: _Reader, inputs: Sequence[InputSpec], sources: Mapping[str, SourceSpec]
) -> tuple[date, date | None]:
    """The days every input can have: the latest start through the earliest end."""
    start = max(sources[spec.source].start_date for spec in inputs)
    ends = [sources[spec.source].end_date for spec in inputs if sources[spec.source].end_date is not None]
    end = min(ends) if ends else None
    if end is not None and end < start:
        spans = {
            spec.source: f"{sources[spec.source].start_date}..{sources[spec.source].end_date or 'open'}"
            for spec in inputs
        }
        reader.fail(".inputs", f"the inputs share no day: {quote(spans)}")
    return start, end


def parse_consolidation(file: Path, index: int, raw: Any, sources: Mapping[str, SourceSpec]) -> ConsolidationSpec:
    reader = _Reader(file, f"consolidations[{index}]", raw, CONSOLIDATION_KEYS)
    name = reader.name("name")
    reader.where = f"consolidations[{index}] ({name})"
    combine = reader.get("combine", str, required=True)
    if combine not in COMBINE:
        reader.fail(".combine", f"unknown combination {quote(combine)} (expected one of {list(COMBINE)})")
    raw_inputs = reader.get("inputs", list, required=True)
    if len(raw_inputs) < 2:
        reader.fail(".inputs", f"a consolidation needs at least two inputs, got {len(raw_inputs)}")
    keys_value = reader.get("keys", (list, str), [])
    keys = (keys_value,) if isinstance(keys_value, str) else tuple(keys_value)
    if PARTITION_COLUMN in keys:
        reader.fail(".keys", f"{PARTITION_COLUMN!r} is always combined on; list only the other columns")
    inputs = tuple(
        _input(file, f"{reader.where}.inputs[{i}]", item, sources, keys) for i, item in enumerate(raw_inputs)
    )
    seen: dict[str, int] = {}
    for i, spec in enumerate(inputs):
        if spec.source in seen:
            reader.fail(f".inputs[{i}].source", f"{quote(spec.source)} is already inputs[{seen[spec.source]}]")
        seen[spec.source] = i
    schema = _combined_schema(reader, combine, inputs, keys)
    source_column = reader.get("source_column", str, None)
    if source_column is not None:
        if combine != "union":
            reader.fail(".source_column", "applies to combine: union only (a joined row comes from every input)")
        if source_column in schema or source_column == PARTITION_COLUMN or source_column.startswith(INTERNAL_PREFIX):
            reader.fail(".source_column", f"{quote(source_column)} is already a column of the combined rows")
        schema[source_column] = "string"
    start, end = _date_range(reader, inputs, sources)
    # Metrics and group_by follow the aggregates' rules, checked against the combined columns.
    aggregate = registry._parse_aggregate(
        file,
        reader.where,
        {key: raw[key] for key in ("name", "description", "group_by", "metrics") if key in raw},
        schema,
    )
    return ConsolidationSpec(
        name=name,
        description=aggregate.description,
        group=reader.name("group") if "group" in raw else "consolidations",
        combine=combine,
        inputs=inputs,
        keys=keys,
        source_column=source_column,
        schema=schema,
        aggregate=aggregate,
        start_date=start,
        end_date=end,
        registry_file=file,
    )


def load_consolidations(files: Sequence[Path], sources: Sequence[SourceSpec]) -> list[ConsolidationSpec]:
    """Every file's ``consolidations:``, against the sources of all files; names are unique."""
    by_name = {source.name: source for source in sources}
    seen: dict[str, Path] = {}
    found = []
    for file in files:
        file = Path(file)
        document = registry._read_yaml(file)  # load_registry_file has already reported unreadable files
        raw_list = document.get("consolidations") if isinstance(document, dict) else None
        if raw_list is None:
            continue
        if not isinstance(raw_list, list):
            raise RegistryError(f"{file}: consolidations: expected list, got {type(raw_list).__name__}")
        for index, raw in enumerate(raw_list):
            spec = parse_consolidation(file, index, raw, by_name)
            if spec.name in seen:
                raise RegistryError(
                    f"{file}: consolidations[{index}] ({spec.name}).name: {quote(spec.name)} "
                    f"is already declared in {seen[spec.name]}"
                )
            seen[spec.name] = file
            found.append(spec)
    return found


# -- combining (pure Polars) ------------------------------------------------------------------


def _input_rows(frame: pl.LazyFrame, spec: InputSpec, types: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    """One input's rows as ``date`` plus its output columns, cast to the combined types."""
    import polars as pl

    return frame.select(
        pl.col(PARTITION_COLUMN),
        *[pl.col(column).alias(output).cast(types[output]) for column, output in spec.columns.items()],
    )


def combine_inputs(spec: ConsolidationSpec, frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    """The combined rows of ``frames`` (input source name → its raw rows, with ``date``):
    an inner join on date + ``keys``, or the inputs stacked (only date + ``keys`` kept)."""
    import polars as pl

    types = {column: registry_dtypes()[kind] for column, kind in spec.schema.items()}
    keys = [PARTITION_COLUMN, *spec.keys]
    if spec.combine == "union":
        parts = []
        for input_spec in spec.inputs:
            stacked = {column: output for column, output in input_spec.columns.items() if output in spec.keys}
            rows = _input_rows(frames[input_spec.source], InputSpec(input_spec.source, stacked, {}), types).select(keys)
            if spec.source_column:
                rows = rows.with_columns(pl.lit(input_spec.source, pl.String).alias(spec.source_column))
            parts.append(rows)
        return pl.concat(parts, how="vertical")
    combined = None
    for input_spec in spec.inputs:
        rows = _input_rows(frames[input_spec.source], input_spec, types)
        # nulls_equal=False: SQL's inner join, where a null key matches nothing.
        combined = rows if combined is None else combined.join(rows, on=keys, how="inner")
    return combined
