"""One day of landed iris items scored with bounded memory (Dagster-free; the asset wires it).

The day's files are parsed in batches into local Parquet (``store.stage_landed``, which keeps two
64-bit hashes a record for the duplicate-id and coverage checks), validated as a streaming query,
and the valid rows are scored in chunks of ``SCORE_ROWS``, each chunk's predictions written as it
is done. The results are LazyFrames over those files, which the Parquet IO manager streams to
storage: beyond 16 bytes a record, memory follows the batch and chunk sizes, not the size of the
day (``bench.landing_memory``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets.predictions import store, transforms
from odf_assets.predictions.model import predict_probabilities
from odf_resources.storage import Storage

if TYPE_CHECKING:  # numpy and polars are imported where used: the code location loads without them
    import numpy as np
    import polars as pl

SCORE_ROWS = 65_536
SINK_ROWS = 16_384


@dataclass(frozen=True)
class ScoredDay:
    """Lazy over files in the caller's work directory: consume before that directory goes."""

    landed: pl.LazyFrame
    predictions: pl.LazyFrame
    rejects: pl.LazyFrame
    entries: list[transforms.LandingEntry]
    landed_keys: np.ndarray  # key hashes of the landed rows, for the coverage check


def score_day(
    storage: Storage, partition: str, workdir: Path, model: tuple, predicted_at: datetime, max_file_bytes: int | None
) -> ScoredDay:
    """Reads, validates and scores every item landed for ``partition``; ``model`` is (card, session, signature)."""
    import polars as pl

    card, session, sig = model
    day = date.fromisoformat(partition)
    staged = store.stage_landed(storage, partition, workdir / "landed", max_file_bytes)
    landed = staged.landed
    checked, valid = workdir / "checked.parquet", workdir / "valid.parquet"
    duplicates = transforms.duplicate_ids(landed, staged.id_hashes)
    # Small row groups: the Parquet sink buffers a whole group before writing it.
    transforms.with_reasons(landed, duplicates).sink_parquet(checked, compression="lz4", row_group_size=SINK_ROWS)
    transforms.valid_rows(pl.scan_parquet(checked)).sink_parquet(valid, compression="lz4", row_group_size=SINK_ROWS)
    rows = pl.scan_parquet(valid).select(pl.len()).collect().item()
    for index, offset in enumerate(range(0, max(rows, 1), SCORE_ROWS)):
        chunk = pl.scan_parquet(valid).slice(offset, SCORE_ROWS).collect()
        probabilities = predict_probabilities(session, sig, transforms.feature_matrix(chunk))
        scored = transforms.prediction_frame(
            chunk,
            probabilities,
            day=day,
            model_version=card["model_version"],
            model_checksum=card["sha256"],
            predicted_at=predicted_at,
        )
        scored.write_parquet(workdir / f"predictions-{index:06d}.parquet", compression="lz4")
    predictions = pl.scan_parquet(sorted(workdir.glob("predictions-*.parquet")))
    rejects = transforms.reject_frame(transforms.rejected_rows(pl.scan_parquet(checked)), day)
    return ScoredDay(landed, predictions, rejects, staged.entries, staged.key_hashes)
