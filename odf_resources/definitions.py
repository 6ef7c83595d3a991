"""The code location's resources: storage, the Parquet IO manager and the source fetcher."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from odf_resources import settings
from odf_resources.constants import IO_MANAGER_KEY, SOURCE_FETCHER_KEY, STORAGE_RESOURCE_KEY
from odf_resources.parquet_io_manager import OdfParquetIOManager
from odf_resources.redaction import install_log_redaction
from odf_resources.source_fetcher import SourceFetcher, registry_file_roots
from odf_resources.storage_resource import OdfStorage


def defs(registry_files: Sequence[Path]) -> dg.Definitions:
    """``registry_files``: the registries in force; ``file:`` sources may read their folders."""
    install_log_redaction()  # every process loading the code location: code server, runs, steps
    uri = settings.storage_uri()
    if not settings.is_shared_storage(uri) and (reason := settings.pod_storage_risk()):
        # Fail when the code location loads (code server, run and step pods), not after a run wrote
        # its Parquet to a disk that disappears with the pod.
        raise ValueError(settings.local_storage_refusal(uri, reason))
    file_roots = registry_file_roots(registry_files, settings.extra_file_roots())
    storage = OdfStorage(base=_from_env("ODF_STORAGE", settings.DEFAULT_LOCAL_STORAGE))
    ca_variable = settings.source_ca_bundle_variable()
    return dg.Definitions(
        resources={
            # One storage: the IO manager nests it; assets, sensors and jobs that read or write
            # objects directly (landing, predictions, partly failed ranges) take it by key.
            STORAGE_RESOURCE_KEY: storage,
            IO_MANAGER_KEY: OdfParquetIOManager(storage=storage),
            SOURCE_FETCHER_KEY: SourceFetcher(
                file_roots=file_roots,
                allowed_hosts=settings.allowed_source_hosts(),
                deadline_seconds=settings.fetch_deadline_seconds(),
                ca_bundle=dg.EnvVar(ca_variable) if ca_variable else "",
            ),
        }
    )


def _from_env(variable: str, default):
    """``dg.EnvVar(variable)`` when the operator set it, so the UI shows the value's source and a
    secret is resolved in the run, never stored in config; ``default`` otherwise."""
    return dg.EnvVar(variable) if settings.is_set(variable) else default
