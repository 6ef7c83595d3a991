"""The queries behind ``odf predictions``: what the old query endpoints answered, read from Parquet and the
landing zone.

* ``predicted``   — rows of the stored ``predictions/iris_predictions`` partition;
* ``rejected``    — rows of ``predictions/iris_rejects`` (records that will never be scored as sent);
* ``unpredicted`` — landed records that neither has yet (new or changed files, or no run so far);
* ``all``         — the three together, with a ``status`` column.
"""

from __future__ import annotations

import sys

import polars as pl

from odf_assets.predictions import store, transforms
from odf_resources import settings
from odf_resources.storage import Storage

TABLE_COLUMNS = (
    "status",
    "id",
    "predicted_label",
    *transforms.PROBABILITY_COLUMNS,
    "model_version",
    "reason",
    "source_file",
    "line",
)


def query(
    storage: Storage, partition: str, status: str = "all", item_id: str | None = None, pending_reason: str | None = None
) -> pl.DataFrame:
    """Items of one date with their ``status``; the landing zone is read only when pending ones are asked for.
    ``pending_reason`` fills the ``reason`` of unpredicted items (why no run covered them yet)."""
    # Each stored partition is read at most once: with "all" it serves its own rows and the pending check.
    needs = {
        store.PREDICTIONS_PATH: status in ("predicted", "unpredicted", "all"),
        store.REJECTS_PATH: status in ("rejected", "unpredicted", "all"),
    }
    stored = {path: store.read_stored_or_empty(storage, path, partition) for path, needed in needs.items() if needed}
    parts = []
    if status in ("predicted", "all"):
        parts.append(stored[store.PREDICTIONS_PATH].with_columns(status=pl.lit("predicted")))
    if status in ("rejected", "all"):
        parts.append(stored[store.REJECTS_PATH].with_columns(status=pl.lit("rejected")))
    if status in ("unpredicted", "all"):
        landed, _ = store.read_landed(storage, partition, settings.landing_max_file_bytes())
        pending = transforms.unaccounted(landed, *stored.values()).drop("problem", "record")
        pending = pending.with_columns(status=pl.lit("unpredicted"))
        if pending_reason is not None:
            pending = pending.with_columns(reason=pl.lit(pending_reason, dtype=pl.String))
        parts.append(pending)
    frame = pl.concat(parts, how="diagonal_relaxed")
    if item_id is not None:
        frame = frame.filter(pl.col("id") == item_id)
    leading = [name for name in ("status", "id") if name in frame.columns]
    return frame.select(*leading, pl.exclude(*leading))


def print_frame(frame: pl.DataFrame, output_format: str) -> None:
    if output_format == "csv":
        sys.stdout.write(frame.with_columns(pl.col(pl.Datetime).dt.to_string()).write_csv())
    elif output_format == "jsonl":
        sys.stdout.write(frame.write_ndjson())
    else:
        shown = frame.select([name for name in TABLE_COLUMNS if name in frame.columns])
        with pl.Config(
            tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=60, tbl_hide_dataframe_shape=True
        ):
            print(shown)
        print(f"{frame.height} item(s)")
