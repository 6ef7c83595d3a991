"""The code location's resources: storage, the Parquet IO manager and the source fetcher."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from odf_resources import settings
from odf_resources.constants import IO_MANAGER_KEY, SOURCE_FETCHER_KEY, STORAGE_RESOURCE_KEY
from odf_resources.parquet_io_manager import PolarsParquetIOManager
from odf_resources.source_fetcher import SourceFetcher, registry_file_roots
from odf_resources.storage_resource import OdfStorage


def defs(registry_files: Sequence[Path]) -> dg.Definitions:
    """``registry_files``: the registries in force; ``file:`` sources may read their folders."""
    file_roots = registry_file_roots(registry_files, settings.extra_file_roots())
    return dg.Definitions(
        resources={
            IO_MANAGER_KEY: PolarsParquetIOManager(base=settings.storage_uri()),
            # Assets that publish the passing days of a partly failed range write through it.
            STORAGE_RESOURCE_KEY: OdfStorage(base=settings.storage_uri()),
            SOURCE_FETCHER_KEY: SourceFetcher(
                file_roots=file_roots,
                allowed_hosts=settings.allowed_source_hosts(),
                deadline_seconds=settings.fetch_deadline_seconds(),
                ca_bundle=settings.source_ca_bundle(),
            ),
        }
    )
