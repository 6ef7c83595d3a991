"""Where the predictions domain keeps things in ODF storage, and the reads/writes around them.

* model: ``predictions/iris_model/model-<sha256>.onnx`` (content-addressed, so a reader never sees
  a half-replaced model) plus ``predictions/iris_model/model_card.json``, the pointer to the current one;
* landing: ``landing/iris/date=YYYY-MM-DD/<name>.jsonl|.csv``;
* outputs: whatever the Parquet IO manager writes for the predictions and rejects assets.
"""

from __future__ import annotations

import errno
import io
import json
from array import array
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets.predictions import landing_keys, landing_records, transforms
from odf_assets.predictions.model import cached_session, check_pin, session_for
from odf_resources.constants import PARTITION_COLUMN
from odf_resources.parquet_io_manager import MissingPartitionError, object_key, scan_stored
from odf_resources.storage import Storage, UnsafeKeyError

if TYPE_CHECKING:  # numpy and polars are imported where used: the code location loads without them
    import numpy as np
    import polars as pl

MODEL_FOLDER = "predictions/iris_model"
MODEL_CARD_KEY = f"{MODEL_FOLDER}/model_card.json"
PREDICTIONS_PATH = transforms.PREDICTIONS_PATH
REJECTS_PATH = transforms.REJECTS_PATH


class ModelNotPublishedError(RuntimeError):
    """The predictions need the model asset materialized first."""


def publish_model(storage: Storage, onnx_bytes: bytes, card: dict) -> str:
    """Model bytes first, then the card pointing at them: the card's publish is the switch-over."""
    onnx_key = f"{MODEL_FOLDER}/model-{card['sha256']}.onnx"
    storage.publish_bytes(onnx_bytes, onnx_key)
    storage.publish_bytes(json.dumps({**card, "onnx_key": onnx_key}, indent=2, sort_keys=True).encode(), MODEL_CARD_KEY)
    return onnx_key


def current_model_card(storage: Storage) -> dict:
    if not storage.exists(MODEL_CARD_KEY):
        raise ModelNotPublishedError(
            f"no iris model at {storage.uri_for(MODEL_CARD_KEY)}: materialize predictions/iris_model first"
        )
    return json.loads(storage.read_bytes(MODEL_CARD_KEY))


def load_current_model(storage: Storage, pinned_sha256: str | None = None):
    """(card, session, signature) of the published model; the bytes are fetched only on a cache miss
    and always checked against the card's checksum, which must be ``pinned_sha256`` when given."""
    card = current_model_card(storage)
    check_pin(card["sha256"], pinned_sha256)
    cached = cached_session(card["sha256"])
    session, sig = cached or session_for(storage.read_bytes(card["onnx_key"]), card["sha256"])
    return card, session, sig


def landing_entries(storage: Storage, partition: str | None = None) -> list[landing_keys.LandingEntry]:
    """Every object under the landing prefix (or one date folder), classified; links and unsafe
    names come back with their ``problem`` and are never opened."""
    prefix = landing_keys.date_prefix(partition) if partition else landing_keys.LANDING_PREFIX
    return [
        landing_keys.classify_landing_key(item.key, item.version, item.size, item.symlink)
        for item in storage.list(prefix)
    ]


def read_landed(
    storage: Storage, partition: str, max_file_bytes: int | None = None
) -> tuple[pl.DataFrame, list[landing_keys.LandingEntry]]:
    """Every landed record of one date (``LANDED_SCHEMA``) and the files it came from. Files are
    streamed; one above ``max_file_bytes`` becomes a file-level reject instead of being read."""
    import polars as pl
    from botocore.exceptions import ClientError

    entries, frames = [], []
    for entry in landing_entries(storage, partition):
        # A file replaced or deleted between list and read changes the date's digest, so the
        # sensor requests another run; this one scores what it could read.
        try:
            if entry.problem or (max_file_bytes is not None and (entry.size or 0) > max_file_bytes):
                frame = landing_records.parse_landing_stream(entry, io.BytesIO(), max_file_bytes)
            else:
                with closing(storage.open_stream(entry.key)) as stream:
                    frame = landing_records.parse_landing_stream(entry, stream, max_file_bytes)
        except (FileNotFoundError, ClientError) as error:
            if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") not in {
                "NoSuchKey",
                "404",
            }:
                raise
            continue
        except (UnsafeKeyError, OSError) as error:  # a link swapped in after listing, for one
            if not _is_link_problem(error):
                raise
            frame = landing_records.file_problem(entry, f"not readable: {type(error).__name__}")
        entries.append(entry)
        frames.append(frame)
    landed = pl.concat(frames) if frames else pl.DataFrame(schema=transforms.polars_schema(transforms.LANDED_SCHEMA))
    return landed, entries


@dataclass(frozen=True)
class StagedDay:
    """A day's landed records in local Parquet files, with the hashes the checks need."""

    landed: pl.LazyFrame
    files: list[Path]  # what ``landed`` scans, in order; each of up to ``transforms.BATCH_ROWS`` rows
    entries: list[landing_keys.LandingEntry]
    id_hashes: np.ndarray  # of non-null ids: duplicate detection
    key_hashes: np.ndarray  # of (source_file, source_version, line): the coverage check


def stage_landed(storage: Storage, partition: str, directory: Path, max_file_bytes: int | None = None) -> StagedDay:
    """``read_landed`` for days larger than memory: each file's batches go to Parquet files in
    ``directory`` as they are parsed, hashed on the way so no later pass must read them all."""
    import numpy as np
    import polars as pl
    from botocore.exceptions import ClientError

    directory.mkdir(parents=True, exist_ok=True)
    # array.array grows in place (realloc), so the day's hashes never exist twice, as they would
    # while concatenating one numpy array per batch; numpy then views the same memory.
    entries, ids, keys = [], array("Q"), array("Q")
    for index, entry in enumerate(landing_entries(storage, partition)):
        written: list[Path] = []
        kept = (len(ids), len(keys))  # the hashes before this file: a failed file drops its own
        try:
            with closing(io.BytesIO() if entry.problem else storage.open_stream(entry.key)) as stream:
                for number, batch in enumerate(landing_records.landing_batches(entry, stream, max_file_bytes)):
                    written.append(directory / f"{index:06d}-{number:06d}.parquet")
                    batch.write_parquet(written[-1], compression="lz4")
                    ids.frombytes(transforms.id_hashes(batch).tobytes())
                    keys.frombytes(transforms.key_hashes(batch).tobytes())
        except (FileNotFoundError, ClientError) as error:  # deleted since listing: see read_landed
            if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") not in {
                "NoSuchKey",
                "404",
            }:
                raise
            _unlink(written)
            del ids[kept[0] :], keys[kept[1] :]
            continue
        except (landing_records.LandingFileProblem, UnsafeKeyError, OSError) as error:
            if not _is_link_problem(error):  # a full disk or lost connection is storage's, not the file's
                raise
            _unlink(written)
            del ids[kept[0] :], keys[kept[1] :]
            problem = (
                str(error)
                if isinstance(error, landing_records.LandingFileProblem)
                else f"not readable: {type(error).__name__}"
            )
            frame = landing_records.file_problem(entry, problem)
            frame.write_parquet(directory / f"{index:06d}-problem.parquet")
            keys.frombytes(transforms.key_hashes(frame).tobytes())
        entries.append(entry)
    files = sorted(directory.glob("*.parquet"))
    landed = (
        pl.scan_parquet(files) if files else pl.LazyFrame(schema=transforms.polars_schema(transforms.LANDED_SCHEMA))
    )
    return StagedDay(landed, files, entries, np.frombuffer(ids, dtype=np.uint64), np.frombuffer(keys, dtype=np.uint64))


def _is_link_problem(error: Exception) -> bool:
    """The file's own fault: refused (a link, swapped in after listing) rather than storage failing."""
    return isinstance(error, (landing_records.LandingFileProblem, UnsafeKeyError)) or (
        isinstance(error, OSError) and error.errno in (errno.ELOOP, errno.EISDIR, errno.ENOTDIR)
    )


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def scan_stored_keys(storage: Storage, asset_path: Sequence[str], partition: str) -> pl.LazyFrame:
    """The source columns of one stored partition, scanned (not loaded); empty when never written."""
    import polars as pl

    try:
        return scan_stored(storage, asset_path, PARTITION_COLUMN, [partition]).select(list(transforms.SOURCE_COLUMNS))
    except MissingPartitionError:
        return pl.LazyFrame(schema=transforms.polars_schema(transforms.SOURCE_COLUMNS))


def stored_key(asset_path: Sequence[str], partition: str) -> str:
    return object_key(asset_path, PARTITION_COLUMN, partition)


def read_stored(storage: Storage, asset_path: Sequence[str], partition: str) -> pl.DataFrame | None:
    """One stored Parquet partition of an asset, read as the IO manager reads it; None when never written."""
    try:
        return scan_stored(storage, asset_path, PARTITION_COLUMN, [partition]).collect()
    except MissingPartitionError:
        return None


def read_stored_or_empty(storage: Storage, asset_path: Sequence[str], partition: str) -> pl.DataFrame:
    """``read_stored``, with a partition never written read as no items (the source columns only)."""
    import polars as pl

    frame = read_stored(storage, asset_path, partition)
    return pl.DataFrame(schema=transforms.polars_schema(transforms.SOURCE_COLUMNS)) if frame is None else frame
