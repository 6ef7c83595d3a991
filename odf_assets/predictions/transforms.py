"""Pure logic of the iris predictions: landing keys, record parsing, validation, result frames.

No Dagster and no I/O: callers hand in keys, bytes and arrays, and get Polars frames back.
Every landed record ends up in exactly one of two frames — valid (to be scored) or rejects (with a
reason) — and both keep ``source_file``/``source_version``/``line`` so coverage can be proven.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # numpy is imported where used: the code location loads without it
    import numpy as np

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASS_LABELS = ("setosa", "versicolor", "virginica")
PROBABILITY_COLUMNS = tuple(f"probability_{label}" for label in CLASS_LABELS)
LANDING_PREFIX = "landing/iris"
SUPPORTED_SUFFIXES = (".jsonl", ".csv")
# Line 0 stands for "the whole file" in rejects, so file-level problems still join on line.
FILE_LEVEL_LINE = 0
MAX_RECORD_CHARS = 500

_DATE_FOLDER = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
# Mirrors odf_resources.storage.safe_key: other names cannot be read through ODF storage.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=\-]*$")

SOURCE_COLUMNS = {"source_file": pl.String, "source_version": pl.String, "line": pl.Int64}
LANDED_SCHEMA = {**SOURCE_COLUMNS, "id": pl.String, **{f: pl.Float64 for f in FEATURES}, "record": pl.String, "problem": pl.String}
REJECT_SCHEMA = {"date": pl.Date, **SOURCE_COLUMNS, "id": pl.String, "reason": pl.String, "record": pl.String}


@dataclass(frozen=True)
class LandingEntry:
    """One object under the landing prefix, classified: ``problem`` says why it cannot be read."""

    key: str
    version: str
    date: str | None
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def date_prefix(partition: str) -> str:
    return f"{LANDING_PREFIX}/date={partition}"


def classify_landing_key(key: str, version: str) -> LandingEntry:
    """Where a landed object belongs: ``date`` is None when it is in no valid date folder."""
    relative = key[len(LANDING_PREFIX) + 1 :] if key.startswith(LANDING_PREFIX + "/") else key
    folder, _, rest = relative.partition("/")
    match = _DATE_FOLDER.match(folder)
    if not rest or not match:
        return LandingEntry(key, version, None, f"{key!r} is not inside a {LANDING_PREFIX}/date=YYYY-MM-DD/ folder")
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        return LandingEntry(key, version, None, f"{folder!r} in {key!r} is not a valid calendar date")
    day = match.group(1)
    if "/" in rest:
        return LandingEntry(key, version, day, f"{key!r} is in a sub-folder; files must sit directly in {folder}/")
    if not _SAFE_NAME.match(rest):
        return LandingEntry(key, version, day, f"file name {rest!r} is not allowed: use letters, digits, '_', '-', '.', '=' and do not start with '.' or '-'")
    if not rest.endswith(SUPPORTED_SUFFIXES):
        return LandingEntry(key, version, day, f"{rest!r} is not a .jsonl or .csv file")
    return LandingEntry(key, version, day)


# -- parsing ---------------------------------------------------------------------------------


def file_problem(entry: LandingEntry, problem: str) -> pl.DataFrame:
    """A single landed row standing for a whole unreadable file."""
    row = {"source_file": entry.name, "source_version": entry.version, "line": FILE_LEVEL_LINE, "id": None,
           **{f: None for f in FEATURES}, "record": None, "problem": problem}  # fmt: skip
    return pl.DataFrame([row], schema=LANDED_SCHEMA)


def _as_number(field: str, value: object) -> tuple[float | None, str | None]:
    # bool is an int in Python, but true/false is not a measurement.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{field}={value!r} is not a number"
    return float(value), None


def _id_text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text or None


def _row(entry: LandingEntry, line: int, raw: str, item_id, features, problem) -> dict:
    return {"source_file": entry.name, "source_version": entry.version, "line": line, "id": item_id,
            **dict(zip(FEATURES, features)), "record": raw[:MAX_RECORD_CHARS], "problem": problem}  # fmt: skip


def _parse_jsonl(entry: LandingEntry, text: str) -> list[dict]:
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            rows.append(_row(entry, number, raw, None, [None] * 4, f"not valid JSON: {error.msg} at column {error.colno}"))
            continue
        if not isinstance(record, dict):
            rows.append(_row(entry, number, raw, None, [None] * 4, f"expected a JSON object, got {type(record).__name__}"))
            continue
        problems = []
        extra = sorted(set(record) - {"id", *FEATURES})
        if extra:
            problems.append(f"unexpected field(s) {extra}: a record is an id plus {', '.join(FEATURES)}")
        features: list[float | None] = []
        for field in FEATURES:
            if field not in record:
                features.append(None)
                problems.append(f"{field} is missing")
                continue
            value, problem = _as_number(field, record[field])
            features.append(value)
            if problem:
                problems.append(problem)
        item_id = _id_text(record.get("id"))
        if item_id is None:
            problems.insert(0, f"id {record['id']!r} is not a non-empty string or integer" if "id" in record else "id is missing")
        rows.append(_row(entry, number, raw, item_id, features, "; ".join(problems) or None))
    return rows


def _parse_csv(entry: LandingEntry, text: str) -> list[dict] | str:
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    expected = ["id", *FEATURES]
    if sorted(header) != sorted(expected):
        return f"CSV header {header} must name exactly these columns (any order): {expected}"
    position = {name: index for index, name in enumerate(header)}
    rows = []
    for values in reader:
        number = reader.line_num
        raw = ",".join(values)
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            rows.append(_row(entry, number, raw, None, [None] * 4, f"expected {len(header)} values, got {len(values)}"))
            continue
        item_id = _id_text(values[position["id"]])
        problems, features = ([] if item_id else ["id is empty"]), []
        for field in FEATURES:
            text_value = values[position[field]].strip()
            try:
                features.append(float(text_value))
            except ValueError:
                features.append(None)
                problems.append(f"{field}={text_value!r} is not a number")
        rows.append(_row(entry, number, raw, item_id, features, "; ".join(problems) or None))
    return rows


def parse_landing_file(entry: LandingEntry, data: bytes) -> pl.DataFrame:
    """Every record of one landed file as a row of ``LANDED_SCHEMA``; problems noted, never raised."""
    if entry.problem:
        return file_problem(entry, entry.problem)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return file_problem(entry, f"not UTF-8 text (byte {error.start})")
    rows = _parse_csv(entry, text) if entry.name.endswith(".csv") else _parse_jsonl(entry, text)
    if isinstance(rows, str):
        return file_problem(entry, rows)
    return pl.DataFrame(rows, schema=LANDED_SCHEMA, orient="row") if rows else pl.DataFrame(schema=LANDED_SCHEMA)


# -- validation and results ------------------------------------------------------------------


def validate(landed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split landed rows into (valid, rejected-with-``reason``); each row goes to exactly one side."""
    not_finite = [
        pl.when(pl.col(f).is_not_null() & ~pl.col(f).is_finite()).then(pl.format(f"{f}={{}} is not finite", pl.col(f)))
        for f in FEATURES
    ]
    copies = pl.len().over("id")
    duplicate = pl.when(pl.col("id").is_not_null() & (copies > 1)).then(pl.format("duplicate id '{}' ({} records in this date)", pl.col("id"), copies))
    # The parsers already explain a missing id; this catches frames built by other means.
    missing_id = pl.when(pl.col("id").is_null() & pl.col("problem").is_null()).then(pl.lit("id is missing"))
    checked = landed.with_columns(
        reason=pl.concat_str([pl.col("problem"), missing_id, *not_finite, duplicate], separator="; ", ignore_nulls=True)
    ).with_columns(reason=pl.when(pl.col("reason") == "").then(None).otherwise(pl.col("reason")))
    valid = checked.filter(pl.col("reason").is_null()).drop("problem", "reason", "record")
    rejects = checked.filter(pl.col("reason").is_not_null())
    return valid, rejects


def feature_matrix(valid: pl.DataFrame) -> np.ndarray:
    """The model input: one float32 row of the 4 features per valid record, C-contiguous."""
    import numpy as np

    return np.ascontiguousarray(valid.select(FEATURES).to_numpy().astype(np.float32, copy=False))


def prediction_frame(
    valid: pl.DataFrame, probabilities: np.ndarray, *, day: date, model_version: str, model_checksum: str, predicted_at: datetime
) -> pl.DataFrame:
    """Valid records plus class probabilities, the arg-max label and the model that produced them."""
    if probabilities.shape != (valid.height, len(CLASS_LABELS)):
        raise ValueError(f"model returned probabilities of shape {probabilities.shape}, expected ({valid.height}, {len(CLASS_LABELS)})")
    import numpy as np

    labels = pl.Series("predicted_label", np.asarray(CLASS_LABELS)[probabilities.argmax(axis=1)] if valid.height else [], dtype=pl.String)
    scores = pl.DataFrame({name: probabilities[:, index] for index, name in enumerate(PROBABILITY_COLUMNS)}, schema={n: pl.Float32 for n in PROBABILITY_COLUMNS})
    return pl.concat([valid, scores], how="horizontal").with_columns(
        labels,
        date=pl.lit(day, dtype=pl.Date),
        model_version=pl.lit(model_version, dtype=pl.String),
        model_checksum=pl.lit(model_checksum, dtype=pl.String),
        predicted_at=pl.lit(predicted_at, dtype=pl.Datetime("us", "UTC")),
    ).select("date", "id", *FEATURES, *PROBABILITY_COLUMNS, "predicted_label", "model_version", "model_checksum", "predicted_at", *SOURCE_COLUMNS)


def reject_frame(rejects: pl.DataFrame, day: date) -> pl.DataFrame:
    return rejects.with_columns(date=pl.lit(day, dtype=pl.Date)).select(list(REJECT_SCHEMA)).cast(REJECT_SCHEMA)


def unaccounted(landed: pl.DataFrame, predictions: pl.DataFrame, rejects: pl.DataFrame) -> pl.DataFrame:
    """Landed rows with neither a prediction nor a reject for the same file version and line."""
    keys = list(SOURCE_COLUMNS)
    done = pl.concat([predictions.select(keys), rejects.select(keys)]).unique()
    return landed.join(done, on=keys, how="anti", nulls_equal=True)
