"""Which registry files are in force: the built-in one plus any named by ODF_SOURCES."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from odf_assets.sources.consolidations import ConsolidationSpec, load_consolidations
from odf_assets.sources.registry import DEFAULT_REGISTRY, SourceSpec, load_registry, read_document
from odf_resources import settings


def registry_files() -> list[Path]:
    return [DEFAULT_REGISTRY, *settings.extra_registry_paths()]


def load_sources() -> list[SourceSpec]:
    return load_registry(registry_files())


@dataclass(frozen=True)
class Registries:
    files: list[Path]
    sources: list[SourceSpec]
    consolidations: list[ConsolidationSpec]


def load_registries() -> Registries:
    """Sources first: a consolidation may read sources declared in any registry file."""
    files = registry_files()
    # Each file is parsed and validated once for both passes (a large registry's YAML is most of its load).
    read = functools.cache(read_document)
    sources = load_registry(files, read)
    return Registries(files, sources, load_consolidations(files, sources, read))
