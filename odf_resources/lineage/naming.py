"""OpenLineage identities for ODF objects, following the OpenLineage dataset naming spec.

One dataset per asset: the object-path prefix every partition of the asset lives under, so a
lineage backend joins all partitions and runs of an asset on one (namespace, name). One lineage
run per Dagster run × asset × partition: a run that writes many partitions reports each one with
its own nominal time instead of overwriting a single run's state.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from odf_resources.storage import split_storage_uri

# The one metadata entry ODF's IO manager adds for lineage (see lineage.metadata).
LINEAGE_METADATA_KEY = "odf/lineage"
# The ``producer`` of every event and facet: ODF, not the OpenLineage client or dagster-openlineage.
PRODUCER = "https://github.com/open-data-factory/odf"
# Fixed namespace so START, COMPLETE and FAIL of one asset partition derive the same run id.
_RUN_ID_NAMESPACE = uuid.UUID("7f1c3a52-5d0e-4f8e-9a55-0df0c1a1e0b1")


def dataset_identity(storage_base: str, asset_path: Sequence[str]) -> tuple[str, str]:
    """(namespace, name) of an asset stored under ``storage_base``.

    ``s3://bucket/prefix`` → (``s3://bucket``, ``prefix/<asset path>``); a local directory →
    (``file``, ``/absolute/dir/<asset path>``), as the OpenLineage naming spec prescribes.
    """
    s3 = split_storage_uri(storage_base)
    if s3:
        bucket, prefix = s3
        return f"s3://{bucket}", "/".join([*([prefix] if prefix else []), *asset_path])
    return "file", str(Path(storage_base).expanduser().resolve().joinpath(*asset_path))


def lineage_run_id(dagster_run_id: str, asset: str, partition: str | None) -> str:
    """A UUID that is the same for every event about one asset partition in one Dagster run."""
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, f"{dagster_run_id}|{asset}|{partition or ''}"))


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds, the format OpenLineage examples use."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
