"""Pure logic of the iris predictions: the item schema, validation and result frames.

No Dagster and no storage access: callers hand in frames and arrays, and get Polars frames back.
Every landed record ends up in exactly one of two frames — valid (to be scored) or rejects (with a
reason) — and both keep ``source_file``/``source_version``/``line`` so coverage can be proven.
Landed keys are classified in ``landing_keys`` and landed files read in ``landing_records``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and polars are imported where used: the code location loads without them
    import numpy as np
    import polars as pl

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASS_LABELS = ("setosa", "versicolor", "virginica")
PROBABILITY_COLUMNS = tuple(f"probability_{label}" for label in CLASS_LABELS)
# The first date partition of the predictions; the last is tomorrow (UTC).
FIRST_DATE = "2024-01-01"
# Where the predictions and rejects are stored: their asset keys.
PREDICTIONS_PATH = ("predictions", "iris_predictions")
REJECTS_PATH = ("predictions", "iris_rejects")
# Line 0 stands for "the whole file" in rejects, so file-level problems still join on line.
FILE_LEVEL_LINE = 0
# The declared domain of every feature, in centimetres: finite and inside it in the model's
# dtype (float32), or the record is rejected rather than scored into a confident wrong label.
FEATURE_DOMAIN = (0.0, 100.0)


# Seed of the id/key hashes: batches hashed while staging must match hashes of the staged files.
HASH_SEED = 0
# Rows per intermediate frame while streaming a file: bounds the Python objects alive at once.
BATCH_ROWS = 4_096
# Landed keys looked up at once by the coverage count.
LOOKUP_ROWS = 65_536

# Schemas as Polars dtype names, resolved by ``polars_schema`` where a frame is built: importing
# this module (and so loading the code location) needs no Polars.
SOURCE_COLUMNS = {"source_file": "String", "source_version": "String", "line": "Int64"}
LANDED_SCHEMA = {
    **SOURCE_COLUMNS,
    "id": "String",
    **{f: "Float64" for f in FEATURES},
    "record": "String",
    "problem": "String",
}
REJECT_SCHEMA = {"date": "Date", **SOURCE_COLUMNS, "id": "String", "reason": "String", "record": "String"}


def polars_schema(dtype_names: Mapping[str, str]) -> dict[str, type[pl.DataType]]:
    """``{column: Polars dtype name}`` as ``{column: Polars dtype}``."""
    import polars as pl

    return {column: getattr(pl, name) for column, name in dtype_names.items()}


# -- validation and results ------------------------------------------------------------------


def id_hashes(frame: pl.DataFrame | pl.LazyFrame):
    """64-bit hashes of the non-null ids, as a numpy array (8 bytes a record)."""
    import polars as pl

    if isinstance(frame, pl.LazyFrame):
        frame = frame.select("id").collect(engine="streaming")
    return frame["id"].drop_nulls().hash(HASH_SEED).to_numpy(writable=True)


def key_hashes(frame: pl.DataFrame | pl.LazyFrame):
    """64-bit hashes of (source_file, source_version, line), as a numpy array."""
    import polars as pl

    if isinstance(frame, pl.LazyFrame):  # hashed while streaming: only 8 bytes a row are collected
        keyed = frame.select(pl.struct(list(SOURCE_COLUMNS)).hash(HASH_SEED))
        return keyed.collect(engine="streaming").to_series().to_numpy(writable=True)
    return frame.select(pl.struct(list(SOURCE_COLUMNS))).to_series().hash(HASH_SEED).to_numpy(writable=True)


def duplicate_ids(landed: pl.LazyFrame, hashes=None) -> pl.DataFrame:
    """``id`` and ``copies`` of every id landed more than once. Only the ids' hashes are held (sorted
    to find repeats; ``hashes`` if the caller collected them while staging); the few ids behind a
    repeated hash are then counted exactly."""
    import numpy as np
    import polars as pl

    ordered = id_hashes(landed) if hashes is None else hashes
    ordered.sort()
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if not len(repeated):  # the usual case: no second pass over the day
        return pl.DataFrame(schema={"id": pl.String, "copies": pl.UInt32})
    suspects = pl.LazyFrame({"hash": repeated}, schema={"hash": pl.UInt64})
    ids = landed.select("id").filter(pl.col("id").is_not_null()).with_columns(hash=pl.col("id").hash(HASH_SEED))
    return (
        ids.join(suspects, on="hash", how="semi")
        .group_by("id")
        .agg(copies=pl.len())
        .filter(pl.col("copies") > 1)
        .collect(engine="streaming")
    )


def with_reasons(landed: pl.LazyFrame, duplicates: pl.DataFrame) -> pl.LazyFrame:
    """``landed`` plus ``reason`` (null for a valid record); ``duplicates`` from ``duplicate_ids``."""
    import polars as pl

    not_finite = [
        pl.when(pl.col(f).is_not_null() & ~pl.col(f).is_finite()).then(pl.format(f"{f}={{}} is not finite", pl.col(f)))
        for f in FEATURES
    ]
    low, high = FEATURE_DOMAIN
    # Checked in the model's dtype: 1e300 is finite as a float64 and infinite as the float32 scored.
    outside = [
        pl.when(
            pl.col(f).is_finite() & (~pl.col(f).cast(pl.Float32).is_finite() | (pl.col(f) < low) | (pl.col(f) > high))
        ).then(pl.format(f"{f}={{}} is outside the declared domain [{low:g}, {high:g}]", pl.col(f)))
        for f in FEATURES
    ]
    duplicate = pl.when(pl.col("copies").is_not_null()).then(
        pl.format("duplicate id '{}' ({} records in this date)", pl.col("id"), pl.col("copies"))
    )
    # The parsers already explain a missing id; this catches frames built by other means.
    missing_id = pl.when(pl.col("id").is_null() & pl.col("problem").is_null()).then(pl.lit("id is missing"))
    return (
        landed.join(duplicates.lazy(), on="id", how="left", maintain_order="left")
        .with_columns(
            reason=pl.concat_str(
                [pl.col("problem"), missing_id, *not_finite, *outside, duplicate], separator="; ", ignore_nulls=True
            )
        )
        .with_columns(reason=pl.when(pl.col("reason") == "").then(None).otherwise(pl.col("reason")))
        .drop("copies")
    )


def valid_rows(checked: pl.LazyFrame) -> pl.LazyFrame:
    import polars as pl

    return checked.filter(pl.col("reason").is_null()).drop("problem", "reason", "record")


def rejected_rows(checked: pl.LazyFrame) -> pl.LazyFrame:
    import polars as pl

    return checked.filter(pl.col("reason").is_not_null())


def validate(landed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split landed rows into (valid, rejected-with-``reason``); each row goes to exactly one side."""
    checked = with_reasons(landed.lazy(), duplicate_ids(landed.lazy())).collect()
    return valid_rows(checked.lazy()).collect(), rejected_rows(checked.lazy()).collect()


# A probability row may miss 1 by float32 rounding, never by more.
PROBABILITY_SUM_TOLERANCE = 1e-3


def invalid_outputs(probabilities: np.ndarray) -> np.ndarray:
    """Per row, whether the model's output is not a probability distribution (a non-finite value,
    one outside [0, 1], or a sum away from 1): such rows are rejects, never predictions."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        finite = np.isfinite(probabilities).all(axis=1)
        in_range = ((probabilities >= 0) & (probabilities <= 1)).all(axis=1)
        sums = np.abs(probabilities.sum(axis=1, dtype=np.float64) - 1) <= PROBABILITY_SUM_TOLERANCE
    return ~(finite & in_range & sums)


def output_rejects(valid: pl.DataFrame, invalid, probabilities: np.ndarray) -> pl.DataFrame:
    """Valid records whose model output was not a probability distribution, as rejects with that reason."""
    import polars as pl

    shown = [", ".join(f"{v:.6g}" for v in row) for row in probabilities[invalid]]
    return valid.filter(pl.Series(invalid)).with_columns(
        record=pl.lit(None, pl.String),
        problem=pl.lit(None, pl.String),
        reason=pl.Series([f"the model returned [{row}], not class probabilities" for row in shown], dtype=pl.String),
    )


def feature_matrix(valid: pl.DataFrame) -> np.ndarray:
    """The model input: one float32 row of the 4 features per valid record, C-contiguous."""
    import numpy as np

    return np.ascontiguousarray(valid.select(FEATURES).to_numpy().astype(np.float32, copy=False))


def prediction_frame(
    valid: pl.DataFrame,
    probabilities: np.ndarray,
    *,
    day: date,
    model_version: str,
    model_checksum: str,
    predicted_at: datetime,
) -> pl.DataFrame:
    """Valid records plus class probabilities, the arg-max label and the model that produced them."""
    import polars as pl

    if probabilities.shape != (valid.height, len(CLASS_LABELS)):
        raise ValueError(
            f"model returned probabilities of shape {probabilities.shape}, "
            f"expected ({valid.height}, {len(CLASS_LABELS)})"
        )
    import numpy as np

    labels = pl.Series(
        "predicted_label",
        np.asarray(CLASS_LABELS)[probabilities.argmax(axis=1)] if valid.height else [],
        dtype=pl.String,
    )
    scores = pl.DataFrame(
        {name: probabilities[:, index] for index, name in enumerate(PROBABILITY_COLUMNS)},
        schema={n: pl.Float32 for n in PROBABILITY_COLUMNS},
    )
    return (
        pl.concat([valid, scores], how="horizontal")
        .with_columns(
            labels,
            date=pl.lit(day, dtype=pl.Date),
            model_version=pl.lit(model_version, dtype=pl.String),
            model_checksum=pl.lit(model_checksum, dtype=pl.String),
            predicted_at=pl.lit(predicted_at, dtype=pl.Datetime("us", "UTC")),
        )
        .select(
            "date",
            "id",
            *FEATURES,
            *PROBABILITY_COLUMNS,
            "predicted_label",
            "model_version",
            "model_checksum",
            "predicted_at",
            *SOURCE_COLUMNS,
        )
    )


def reject_frame(rejects: pl.DataFrame, day: date) -> pl.DataFrame:
    import polars as pl

    return (
        rejects.with_columns(date=pl.lit(day, dtype=pl.Date))
        .select(list(REJECT_SCHEMA))
        .cast(polars_schema(REJECT_SCHEMA))
    )


def unaccounted_count(landed_keys, *done: pl.LazyFrame) -> int:
    """How many landed rows (``landed_keys``: their ``key_hashes``) no frame of ``done`` holds for the
    same file version and line, for days larger than memory: a 64-bit hash a row stands for each
    key (a collision could hide one row in about 10^13 at a million rows a day; ``unaccounted``,
    which lists the rows, is exact)."""
    import numpy as np
    import polars as pl

    # One streaming query hashes every finished key, sorted in place: a single 8-byte copy per row.
    hashed = [frame.select(key=pl.struct(list(SOURCE_COLUMNS)).hash(HASH_SEED)) for frame in done]
    empty = np.array([], dtype=np.uint64)
    finished = pl.concat(hashed).collect(engine="streaming")["key"].to_numpy(writable=True) if hashed else empty
    finished.sort()
    if not len(finished):
        return len(landed_keys)
    missing = 0
    # searchsorted on the sorted side needs far less scratch memory than np.isin, and a block at a
    # time its positions take memory by the block, not by the day.
    for start in range(0, len(landed_keys), LOOKUP_ROWS):
        block = landed_keys[start : start + LOOKUP_ROWS]
        positions = np.searchsorted(finished, block)
        np.minimum(positions, len(finished) - 1, out=positions)
        missing += int(np.count_nonzero(finished[positions] != block))
    return missing


def unaccounted(landed: pl.DataFrame, predictions: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    """Landed rows with neither a prediction nor a reject for the same file version and line."""
    import polars as pl

    keys = list(SOURCE_COLUMNS)
    done = pl.concat([predictions.select(keys), rejects.select(keys)]).unique()
    return landed.join(done, on=keys, how="anti", nulls_equal=True)
