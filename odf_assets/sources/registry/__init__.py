"""The source registry: open datasets declared in YAML, parsed into validated, immutable specs.

A file is read with ODF's YAML hardening (``yaml_loading``), validated against pydantic models of
its shape (``models``; unknown keys refused, strict types) and resolved into frozen ``SourceSpec``s
(``sources``). Every error names the registry file and the key path (``sources[1] (shop).schema.amount``)
and says what was expected, one line, because registries are edited by operators, not by the code's
authors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from odf_assets.sources.registry.checks import INTERNAL_PREFIX, column_name_problem
from odf_assets.sources.registry.errors import RegistryError, escape_controls, fail, item_label, key_path, problem
from odf_assets.sources.registry.models import (
    AMBIGUOUS_TIMES,
    CHOICE_NOUNS,
    COLUMN_TYPES,
    CSV_ENCODINGS,
    FORMATS,
    METRICS,
    NONEXISTENT_TIMES,
    UNDATED_ROWS,
    RegistryDocument,
    allowed_keys,
)
from odf_assets.sources.registry.sources import build_source
from odf_assets.sources.registry.specs import (
    AggregateSpec,
    CsvOptions,
    MetricSpec,
    ParseOptions,
    RangeSpec,
    SourceSpec,
)
from odf_assets.sources.registry.yaml_loading import MAX_REGISTRY_BYTES, MAX_YAML_DEPTH, load_document
from odf_core.text import quote
from odf_resources.constants import PARTITION_COLUMN

__all__ = [
    "AMBIGUOUS_TIMES",
    "COLUMN_TYPES",
    "CSV_ENCODINGS",
    "DEFAULT_REGISTRY",
    "FORMATS",
    "INTERNAL_PREFIX",
    "MAX_REGISTRY_BYTES",
    "MAX_YAML_DEPTH",
    "METRICS",
    "NONEXISTENT_TIMES",
    "PARTITION_COLUMN",
    "UNDATED_ROWS",
    "AggregateSpec",
    "DocumentReader",
    "CsvOptions",
    "MetricSpec",
    "ParseOptions",
    "RangeSpec",
    "RegistryDocument",
    "RegistryError",
    "SourceSpec",
    "column_name_problem",
    "escape_controls",
    "load_registry",
    "load_registry_file",
    "read_document",
]

DEFAULT_REGISTRY = Path(__file__).parent.parent / "sources.yaml"
# pydantic's errors for a key a mapping may not hold: reported before anything else.
UNKNOWN_KEY = ("extra_forbidden", "invalid_key")


def read_document(file: Path) -> tuple[Any, RegistryDocument]:
    """The file's raw document and its validated models; the first problem as one RegistryError line."""
    document = load_document(file)
    if isinstance(document, dict) and not {"sources", "consolidations"} & set(document):
        raise RegistryError(f"{file}: sources: is required")
    try:
        return document, RegistryDocument.model_validate(document)
    except ValidationError as error:
        raise _first_problem(file, document, error) from None


# A registry file's raw document and validated models, as ``read_document`` returns them.
DocumentReader = Callable[[Path], tuple[Any, RegistryDocument]]


def _first_problem(file: Path, document: Any, error: ValidationError) -> RegistryError:
    # An unknown key first: a misspelt key usually explains the "is required" that follows it.
    errors = sorted(error.errors(include_url=False), key=lambda item: item["type"] not in UNKNOWN_KEY)
    first = errors[0]
    loc = tuple(first["loc"])
    if first["type"] == "invalid_key":  # a key that is not text (YAML reads a bare on: as True): unknown
        loc = (*loc[:-1], str(first["input"]))
        first = {**first, "type": "extra_forbidden", "loc": loc}
    if first["type"] == "literal_error":
        nouns = [CHOICE_NOUNS[part] for part in loc[-2:][::-1] if isinstance(part, str) and part in CHOICE_NOUNS]
        first = {**first, "ctx": {**first["ctx"], "noun": nouns[0] if nouns else None}}
    keys = allowed_keys(RegistryDocument, loc[:-1]) if first["type"] in UNKNOWN_KEY else None
    return fail(file, key_path(loc, document), problem(first, keys))


def load_registry_file(file: Path, read: DocumentReader = read_document) -> list[SourceSpec]:
    # consolidations: are resolved by odf_assets.sources.consolidations once every file's sources are known.
    file = Path(file)
    document, models = read(file)
    folders: dict[Path, Path] = {}
    return [
        build_source(file, item_label("sources", index, document["sources"][index]), source, folders)
        for index, source in enumerate(models.sources)
    ]


def load_registry(files: list[Path], read: DocumentReader = read_document) -> list[SourceSpec]:
    """All sources from ``files`` in order; a name declared twice is an error naming both files.
    ``read``: how a file becomes its document (a caching reader lets the consolidations reuse it)."""
    seen: dict[str, Path] = {}
    sources = []
    for file in files:
        for source in load_registry_file(file, read):
            if source.name in seen:
                raise RegistryError(f"{file}: source {quote(source.name)} is already declared in {seen[source.name]}")
            seen[source.name] = file
            sources.append(source)
    return sources
