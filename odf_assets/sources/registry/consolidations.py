"""Consolidations declared in a registry file's ``consolidations:`` list, resolved against the
sources of every file (an input may come from another file) into frozen ``ConsolidationSpec``s,
with the registry's error style: file, key path, expectation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from odf_assets.sources.registry import DocumentReader, read_document
from odf_assets.sources.registry.checks import INTERNAL_PREFIX
from odf_assets.sources.registry.errors import RegistryError, item_label
from odf_assets.sources.registry.models import AggregateModel, ConsolidationModel, InputModel
from odf_assets.sources.registry.sources import NUMERIC, Where, build_aggregate
from odf_assets.sources.registry.specs import AggregateSpec, SourceSpec
from odf_core.text import quote
from odf_resources.constants import PARTITION_COLUMN


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


def _input(where: Where, raw: InputModel, sources: Mapping[str, SourceSpec], keys: tuple[str, ...]) -> InputSpec:
    name = raw.source
    source = sources.get(name)
    if source is None:
        where.fail(".source", f"unknown source {quote(name)} (declared sources: {quote(sorted(sources))})")
    if not source.active:
        where.fail(".source", f"source {quote(name)} is not active (active: false builds no raw asset to read)")
    where = Where(where.file, f"{where.path} ({name})")
    own = {column: kind for column, kind in source.schema.items() if column != PARTITION_COLUMN}
    if raw.columns is None:
        # A date-typed date_column only repeats the partition column: left out unless listed.
        mapping = {c: c for c, kind in own.items() if not (c == source.date_column and kind == "date")}
    elif isinstance(raw.columns, list):
        mapping = {column: column for column in raw.columns}
    else:
        mapping = dict(raw.columns)
    schema: dict[str, str] = {}
    for column, output in mapping.items():
        if column == PARTITION_COLUMN:
            where.fail(
                ".columns", f"{PARTITION_COLUMN!r} is the partition column, joined on and kept without being listed"
            )
        if column not in own:
            where.fail(".columns", f"column {quote(column)} is not in {name}'s schema {quote(sorted(own))}")
        if (
            not isinstance(output, str)
            or not output
            or output == PARTITION_COLUMN
            or output.startswith(INTERNAL_PREFIX)
        ):
            where.fail(
                f".columns.{column}",
                f"output name {quote(output)} must be a non-empty name other than 'date' and '__odf…'",
            )
        if output in schema:
            where.fail(f".columns.{column}", f"output name {quote(output)} is taken twice in this input")
        schema[output] = own[column]
    # Key columns come along without being listed, unless a rename already provides them.
    for key in keys:
        if key not in schema and key in own and key not in mapping:
            mapping[key], schema[key] = key, own[key]
    return InputSpec(name, {str(c): o for c, o in mapping.items()}, schema, source.allow_empty_days)


def _combined_schema(where: Where, combine: str, inputs: Sequence[InputSpec], keys: tuple[str, ...]) -> dict[str, str]:
    """Output columns and types; join/union columns must exist in every input with compatible types."""
    schema: dict[str, str] = {}
    for column in keys:
        kinds = {}
        for index, spec in enumerate(inputs):
            if column not in spec.schema:
                where.fail(
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
            where.fail(".keys", f"column {quote(column)} has types {quote(kinds)}: {combine} needs {allowed}")
        schema[column] = "float64" if len(distinct) > 1 else distinct.pop()
    if combine == "union":
        return schema
    owner = {column: "the join keys" for column in keys}
    for index, spec in enumerate(inputs):
        for column, kind in spec.schema.items():
            if column in keys:
                continue
            if column in owner:
                where.fail(
                    f".inputs[{index}].columns",
                    f"column {quote(column)} is also in {owner[column]}: "
                    f"rename one (columns: {{{column}: new_name}}) or leave it out",
                )
            owner[column], schema[column] = f"inputs[{index}] ({spec.source})", kind
    return schema


def _date_range(
    where: Where, inputs: Sequence[InputSpec], sources: Mapping[str, SourceSpec]
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
        where.fail(".inputs", f"the inputs share no day: {quote(spans)}")
    return start, end


def build_consolidation(
    file: Path, label: str, raw: ConsolidationModel, sources: Mapping[str, SourceSpec]
) -> ConsolidationSpec:
    where = Where(file, label)
    if len(raw.inputs) < 2:
        where.fail(".inputs", f"a consolidation needs at least two inputs, got {len(raw.inputs)}")
    keys = tuple(raw.keys)
    if PARTITION_COLUMN in keys:
        where.fail(".keys", f"{PARTITION_COLUMN!r} is always combined on; list only the other columns")
    inputs = tuple(
        _input(Where(file, f"{label}.inputs[{i}]"), item, sources, keys) for i, item in enumerate(raw.inputs)
    )
    seen: dict[str, int] = {}
    for i, spec in enumerate(inputs):
        if spec.source in seen:
            where.fail(f".inputs[{i}].source", f"{quote(spec.source)} is already inputs[{seen[spec.source]}]")
        seen[spec.source] = i
    schema = _combined_schema(where, raw.combine, inputs, keys)
    if raw.source_column is not None:
        column = raw.source_column
        if raw.combine != "union":
            where.fail(".source_column", "applies to combine: union only (a joined row comes from every input)")
        if column in schema or column == PARTITION_COLUMN or column.startswith(INTERNAL_PREFIX):
            where.fail(".source_column", f"{quote(column)} is already a column of the combined rows")
        schema[column] = "string"
    start, end = _date_range(where, inputs, sources)
    # Metrics and group_by follow the aggregates' rules, checked against the combined columns.
    aggregate = build_aggregate(
        where,
        AggregateModel.model_construct(
            name=raw.name, description=raw.description, group_by=raw.group_by, metrics=raw.metrics
        ),
        schema,
    )
    return ConsolidationSpec(
        name=raw.name,
        description=raw.description,
        group=raw.group,
        combine=raw.combine,
        inputs=inputs,
        keys=keys,
        source_column=raw.source_column,
        schema=schema,
        aggregate=aggregate,
        start_date=start,
        end_date=end,
        registry_file=file,
    )


def load_consolidations(
    files: Sequence[Path], sources: Sequence[SourceSpec], read: DocumentReader = read_document
) -> list[ConsolidationSpec]:
    """Every file's ``consolidations:``, against the sources of all files; names are unique."""
    by_name = {source.name: source for source in sources}
    seen: dict[str, Path] = {}
    found = []
    for file in files:
        file = Path(file)
        document, models = read(file)  # load_registry_file has already reported unreadable files
        for index, raw in enumerate(models.consolidations or []):
            label = item_label("consolidations", index, document["consolidations"][index])
            spec = build_consolidation(file, label, raw, by_name)
            if spec.name in seen:
                raise RegistryError(
                    f"{file}: {label}.name: {quote(spec.name)} is already declared in {seen[spec.name]}"
                )
            seen[spec.name] = file
            found.append(spec)
    return found
