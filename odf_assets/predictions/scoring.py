"""One day of landed iris items scored with bounded memory (Dagster-free; the asset wires it).

The day's files are parsed in batches into local Parquet (``store.stage_landed``, which keeps two
64-bit hashes a record for the duplicate-id and coverage checks). Then one pass over the staged
rows, ``SCORE_ROWS`` at a time, validates each chunk, scores its valid rows and writes the chunk's
predictions and rejects as it is done. The results are LazyFrames over those files, which the
Parquet IO manager streams to storage: beyond 16 bytes a record while staging (8 once the duplicates
are found), memory follows the batch and chunk sizes, not the size of the day (``bench.landing_memory``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets.predictions import landing_keys, store, transforms
from odf_assets.predictions.model import predict_probabilities
from odf_resources.storage import Storage

if TYPE_CHECKING:  # numpy and polars are imported where used: the code location loads without them
    import numpy as np
    import polars as pl

# Small chunks keep the allocators' retained memory low; per-chunk overhead stays a few percent.
SCORE_ROWS = 16_384


@dataclass(frozen=True)
class ScoredDay:
    """Lazy over files in the caller's work directory: consume before that directory goes."""

    landed: pl.LazyFrame
    predictions: pl.LazyFrame
    rejects: pl.LazyFrame
    entries: list[landing_keys.LandingEntry]
    landed_keys: np.ndarray  # key hashes of the landed rows, for the coverage check


def score_day(
    storage: Storage, partition: str, workdir: Path, model: tuple, predicted_at: datetime, max_file_bytes: int | None
) -> ScoredDay:
    """Reads, validates and scores every item landed for ``partition``; ``model`` is (card, session, signature)."""
    import polars as pl

    card, session, sig = model
    day = date.fromisoformat(partition)
    staged = store.stage_landed(storage, partition, workdir / "landed", max_file_bytes)
    landed, entries, landed_keys = staged.landed, staged.entries, staged.key_hashes
    duplicates = transforms.duplicate_ids(landed, staged.id_hashes)
    files = staged.files
    del staged  # the id hashes are done with: freed before scoring
    # Each chunk is validated on its own (``duplicates`` is the only day-wide state), so no checked
    # or valid copy of the day is written and read back. Chunks are groups of staged files: a slice
    # of the whole scan would resolve every file again for each chunk.
    per_chunk = max(1, SCORE_ROWS // transforms.BATCH_ROWS)
    for index, start in enumerate(range(0, max(len(files), 1), per_chunk)):
        chunk = pl.scan_parquet(files[start : start + per_chunk]) if files else landed
        checked = transforms.with_reasons(chunk, duplicates).collect()
        valid = transforms.valid_rows(checked.lazy()).collect()
        rejected = transforms.rejected_rows(checked.lazy()).collect()
        del checked
        probabilities = predict_probabilities(session, sig, transforms.feature_matrix(valid))
        invalid = transforms.invalid_outputs(probabilities)
        if invalid.any():  # a wrong output is never published as a prediction
            rejected = pl.concat([rejected, transforms.output_rejects(valid, invalid, probabilities)], how="diagonal")
            valid, probabilities = valid.filter(pl.Series(~invalid)), probabilities[~invalid]
        scored = transforms.prediction_frame(
            valid,
            probabilities,
            day=day,
            model_version=card["model_version"],
            model_checksum=card["sha256"],
            predicted_at=predicted_at,
        )
        scored.write_parquet(workdir / f"predictions-{index:06d}.parquet", compression="lz4")
        if rejected.height or index == 0:  # the first file carries the schema when nothing is rejected
            transforms.reject_frame(rejected, day).write_parquet(
                workdir / f"rejects-{index:06d}.parquet", compression="lz4"
            )
    predictions = pl.scan_parquet(sorted(workdir.glob("predictions-*.parquet")))
    rejects = pl.scan_parquet(sorted(workdir.glob("rejects-*.parquet")))
    return ScoredDay(landed, predictions, rejects, entries, landed_keys)
