"""Polars frames ⇄ one Parquet object per asset × partition, in local or S3 storage.

Layout: ``<base>/<asset key path>/<partition column>=<key>/data.parquet`` (``data.parquet`` directly
under the asset path when unpartitioned). A run over a partition range gets one frame holding every
partition and is split on the asset's partition column (metadata ``partition_expr``, default
``date``), so BackfillPolicy ranges write exactly the objects single-partition runs would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from odf_resources.constants import PARTITION_COLUMN
from odf_resources.lineage.metadata import lineage_metadata
from odf_resources.storage import Storage, safe_key
from odf_resources.storage_resource import OdfStorage

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

DATA_FILE = "data.parquet"
PREVIEW_ROWS = 5


def _is_lazy_frame(_context: dg.TypeCheckContext, value: object) -> dg.TypeCheck:
    import polars as pl

    if isinstance(value, pl.LazyFrame):
        return dg.TypeCheck(success=True)
    return dg.TypeCheck(success=False, description=f"expected a polars LazyFrame, got {type(value).__name__}")


# The annotation for asset inputs that ``load_input`` hands over as a ``pl.LazyFrame`` (scanned, not
# collected). Dagster resolves asset parameter annotations while definitions load, and annotating with
# ``pl.LazyFrame`` itself would import Polars (~0.2 s) in every process that loads the code location,
# sensor daemons included. A DagsterType is Dagster's own way to name a type for an input: it checks
# values with a function, so Polars is imported only when a run loads one. Type checkers see the class.
if TYPE_CHECKING:
    from polars import LazyFrame
else:
    LazyFrame = dg.DagsterType(
        name="LazyFrame",
        type_check_fn=_is_lazy_frame,
        description="A polars LazyFrame: the Parquet IO manager scans the stored partitions without collecting them.",
    )


class MissingPartitionError(dg.Failure):
    """An upstream partition that was never materialized (or was deleted)."""


def partition_column(metadata: dict | None) -> str:
    return str((metadata or {}).get("partition_expr", PARTITION_COLUMN))


def object_key(asset_path: Sequence[str], column: str | None, partition_key: str | None) -> str:
    """The storage key of one asset × partition; keys are validated so they cannot escape the base."""
    parts = list(asset_path)
    if partition_key is not None:
        parts.append(f"{column}={partition_key}")
    return safe_key(*parts, DATA_FILE)


def markdown_preview(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"

    def cell(value) -> str:
        # Floats to at most 6 decimals: sums read 13200.76, not 13200.760000000002.
        return "" if value is None else str(round(value, 6)) if isinstance(value, float) else str(value)

    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *rows])


def describe_parquet(path: Path) -> dict[str, dg.RawMetadataValue]:
    """Row count, schema and preview read from a finished Parquet file (footer plus a few rows)."""
    import polars as pl

    # The preview's schema is the file's, and a file shorter than the preview is all in it: a day
    # of a small asset is read once, a larger one twice (the row count from the footer).
    preview = pl.read_parquet(path, n_rows=PREVIEW_ROWS + 1)
    schema = preview.schema
    rows = preview.height if preview.height <= PREVIEW_ROWS else pl.scan_parquet(path).select(pl.len()).collect().item()
    preview = preview.head(PREVIEW_ROWS)
    return {
        "dagster/row_count": int(rows),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in schema.items()]
        ),
        "preview": dg.MetadataValue.md(markdown_preview(preview)),
    }


# The streaming sink holds a whole row group before writing it: smaller groups bound the buffer
# a large partition's write needs (bench.landing_memory).
STREAMED_ROW_GROUP_ROWS = 65_536


def write_parquet(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    import polars as pl

    if isinstance(frame, pl.LazyFrame):
        # Streams: large inputs never need to fit in memory.
        frame.sink_parquet(path, compression="zstd", row_group_size=STREAMED_ROW_GROUP_ROWS)
    else:
        frame.write_parquet(path, compression="zstd")


def stage_partitions(
    frame: pl.DataFrame | pl.LazyFrame, column: str, keys: Sequence[str], staging: Path, asset: str
) -> dict[str, Path]:
    """Split a range output into one staged file per partition key: a lazy frame in one streaming
    pass, a frame already in memory in memory.

    Rows whose partition value is outside ``keys`` are an error; keys without rows get an empty
    file with the frame's schema, so every partition of the range is materialized.
    """
    import polars as pl

    schema = frame.lazy().collect_schema()
    if column not in schema:
        raise dg.Failure(
            f"{asset}: a partition-range output needs its partition column {column!r}; columns are {schema.names()}"
        )
    if isinstance(frame, pl.DataFrame):
        # Rows already in memory are split in memory and each day written straight to its file:
        # no folder per day to create, rename out of and remove (a range run's per-day cost).
        staging.mkdir(parents=True, exist_ok=True)
        found: dict[str, pl.DataFrame | Path] = {
            _partition_text(value): rows for (value,), rows in frame.partition_by(column, as_dict=True).items()
        }
    else:
        parts = staging / "parts"
        # PartitionBy is marked unstable in Polars 2; without a byte target it writes one file per key.
        frame.sink_parquet(
            pl.PartitionBy(parts, key=column, include_key=True, approximate_bytes_per_file=None),
            mkdir=True,
            compression="zstd",
        )
        found = {folder.name.split("=", 1)[1]: folder for folder in parts.iterdir()} if parts.exists() else {}
    unexpected = sorted(set(found) - set(keys))
    if unexpected:
        raise dg.Failure(
            f"{asset}: rows with {column}={unexpected[:5]} are outside the partitions being written "
            f"({keys[0]}..{keys[-1]})"
        )
    staged = {}
    for index, key in enumerate(keys):
        target = staging / f"{index}.parquet"
        found_rows = found.get(key)
        files = sorted(found_rows.glob("*.parquet")) if isinstance(found_rows, Path) else []
        if isinstance(found_rows, pl.DataFrame):
            found_rows.write_parquet(target, compression="zstd")
        elif len(files) == 1:
            files[0].rename(target)
        elif files:
            pl.scan_parquet(files).sink_parquet(target, compression="zstd")
        else:
            pl.DataFrame(schema=schema).write_parquet(target, compression="zstd")
        staged[key] = target
    return staged


def _partition_text(value: object) -> str:
    """A partition column's value as its partition key (a date as ISO text), null as Hive names it."""
    from datetime import date

    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    return value.isoformat() if isinstance(value, date) else str(value)


def scan_stored(
    storage: Storage,
    asset_path: Sequence[str],
    column: str,
    partitions: Sequence[str | None],
    allow_missing: bool = False,
) -> pl.LazyFrame:
    """The stored objects of ``partitions`` as one scan (nothing is read yet).

    A partition never written raises ``MissingPartitionError`` unless ``allow_missing``; then it is
    left out, and all missing still raises (there is no schema to return).
    """
    import polars as pl

    asset = "/".join(asset_path)
    uris = []
    for partition in partitions:
        key = object_key(asset_path, column, partition)
        if storage.exists(key):
            uris.append(storage.scan_uri(key))
        elif not allow_missing:
            raise MissingPartitionError(
                f"{asset} partition {partition or '(unpartitioned)'} is not stored at {storage.uri_for(key)}: "
                "materialize it first"
            )
    if not uris:
        raise MissingPartitionError(f"{asset}: none of partitions {list(partitions)} are stored")
    # Partitions written on different days may differ in nullability/width: relax, don't fail.
    options = storage.scan_options()
    return pl.concat([pl.scan_parquet(uri, storage_options=options) for uri in uris], how="diagonal_relaxed")


@dataclass(frozen=True)
class StagedPartitions:
    """Finished Parquet files, one per partition key, that an asset wrote and checked itself:
    the IO manager publishes them as they are, with no second encoding pass."""

    files: dict[str, Path]


def publish_staged(storage: Storage, asset_path: Sequence[str], column: str, staged: dict[str | None, Path]) -> dict:
    """Publish staged files as the partitions' objects; the metadata of each, by partition key.

    Every file is described before any is published, so a corrupt file stops the whole set.
    """
    keys = {partition: object_key(asset_path, column, partition) for partition in staged}
    metadata = {partition: describe_stored(storage, local, keys[partition]) for partition, local in staged.items()}
    for partition, local in staged.items():
        # Output is deterministic: the same rows give the same bytes, which need no rewrite.
        unchanged = storage.holds(local, keys[partition])
        if not unchanged:
            storage.publish_staged_file(local, keys[partition])
        metadata[partition]["unchanged_bytes"] = unchanged
    return metadata


def describe_stored(storage: Storage, local: Path, key: str) -> dict[str, dg.RawMetadataValue]:
    return {
        **describe_parquet(local),
        "uri": dg.MetadataValue.path(storage.uri_for(key)),
        "bytes": local.stat().st_size,
    }


class OdfParquetIOManager(dg.ConfigurableIOManager):
    """Stores Polars DataFrames/LazyFrames as Parquet: one atomic object per asset × partition.

    Its storage is the code location's ``odf_storage`` resource, nested: one configuration and one
    client for the IO manager and every asset, sensor and job that reads or writes objects directly.
    """

    storage: OdfStorage

    @classmethod
    def at(cls, base: str) -> OdfParquetIOManager:
        """An IO manager over its own ``OdfStorage(base=base)``."""
        return cls(storage=OdfStorage(base=base))

    # -- writing -----------------------------------------------------------------------------
    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | pl.LazyFrame | None) -> None:
        import polars as pl

        if obj is None:
            return
        if isinstance(obj, StagedPartitions):
            self._publish_staged(context, obj)
            return
        if not isinstance(obj, (pl.DataFrame, pl.LazyFrame)):
            raise dg.Failure(f"{context.asset_key.to_user_string()}: expected a Polars frame, got {type(obj).__name__}")
        column = partition_column(context.definition_metadata)
        partitions = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        written = self._write_all(obj, context.asset_key.path, column, partitions, context.asset_key.to_user_string())
        self._record(context, written)

    def _publish_staged(self, context: dg.OutputContext, staged: StagedPartitions) -> None:
        partitions = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        missing = [p for p in partitions if p not in staged.files]
        if missing:
            raise dg.Failure(f"{context.asset_key.to_user_string()}: no staged file for partition(s) {missing}")
        column = partition_column(context.definition_metadata)
        self._record(
            context,
            publish_staged(
                self.storage.get(), context.asset_key.path, column, {p: staged.files[p] for p in partitions}
            ),
        )

    def _record(self, context: dg.OutputContext, written: dict) -> None:
        written = {p: {**m, **lineage_metadata(context, p)} for p, m in written.items()}
        if len(written) == 1:
            context.add_output_metadata(next(iter(written.values())))
            return
        # A range run materializes every partition: give each its own URI, rows and bytes.
        for partition, metadata in written.items():
            context.step_context.add_asset_metadata(metadata, asset_key=context.asset_key, partition_key=partition)

    def _write_all(
        self, frame: pl.DataFrame | pl.LazyFrame, asset_path: Sequence[str], column: str, partitions: list, asset: str
    ) -> dict:
        """Serialize every partition to staging first, then publish: a failure while computing or
        encoding any partition leaves all stored objects untouched. Returns metadata per partition."""
        with self.storage.get().staging_area() as staging:
            if len(partitions) == 1:
                staged = {partitions[0]: Path(staging) / "0.parquet"}
                write_parquet(frame, staged[partitions[0]])
            else:
                staged = stage_partitions(frame, column, partitions, Path(staging), asset)
            return publish_staged(self.storage.get(), asset_path, column, staged)

    # -- reading -----------------------------------------------------------------------------
    def load_input(self, context: dg.InputContext) -> pl.DataFrame | pl.LazyFrame:
        import polars as pl

        upstream = context.upstream_output
        column = partition_column(upstream.definition_metadata if upstream else None)
        asset = context.asset_key
        partitions: list[str | None] = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
        allow_missing = bool((context.definition_metadata or {}).get("allow_missing_partitions", False))
        lazy = scan_stored(self.storage.get(), asset.path, column, partitions, allow_missing)
        wants_lazy = context.dagster_type is LazyFrame or context.dagster_type.typing_type is pl.LazyFrame
        return lazy if wants_lazy else lazy.collect()


@dataclass(frozen=True)
class StoredPartition:
    """What a partition holds now: its row count (from the Parquet footer) and its bytes' sha256."""

    rows: int
    sha256: str


def stored_row_counts(storage: Storage, asset_path: Sequence[str], column: str, partitions: Sequence[str]) -> dict:
    """Row count of each stored partition among ``partitions`` (footer only; absent ones left out)."""
    import polars as pl

    counts = {}
    for partition in partitions:
        key = object_key(asset_path, column, partition)
        if storage.exists(key):
            counts[partition] = pl.scan_parquet(storage.scan_uri(key)).select(pl.len()).collect().item()
    return counts


def stored_partition(storage: Storage, asset_path: Sequence[str], column: str, partition: str) -> StoredPartition:
    """Row count and sha256 of one stored partition, to say exactly what a refused write kept."""
    import hashlib

    import polars as pl

    key = object_key(asset_path, column, partition)
    digest = hashlib.sha256()
    with storage.open_stream(key) as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    rows = pl.scan_parquet(storage.scan_uri(key)).select(pl.len()).collect().item()
    return StoredPartition(rows, digest.hexdigest())
