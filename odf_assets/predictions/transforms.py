"""Pure logic of the iris predictions: landing keys, record parsing, validation, result frames.

No Dagster and no storage access: callers hand in keys, byte streams and arrays, and get Polars frames back.
Every landed record ends up in exactly one of two frames — valid (to be scored) or rejects (with a
reason) — and both keep ``source_file``/``source_version``/``line`` so coverage can be proven.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, BinaryIO

from odf_core.text import quote

if TYPE_CHECKING:  # numpy and polars are imported where used: the code location loads without them
    import numpy as np
    import polars as pl

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASS_LABELS = ("setosa", "versicolor", "virginica")
PROBABILITY_COLUMNS = tuple(f"probability_{label}" for label in CLASS_LABELS)
LANDING_PREFIX = "landing/iris"
# The first date partition of the predictions; the last is tomorrow (UTC).
FIRST_DATE = "2024-01-01"
SUPPORTED_SUFFIXES = (".jsonl", ".csv")
# Line 0 stands for "the whole file" in rejects, so file-level problems still join on line.
FILE_LEVEL_LINE = 0
# Characters of a rejected record kept in its reject (what ``odf predictions`` shows).
MAX_RECORD_CHARS = 500
# Input bounds, checked while reading (README, Security): a record is an id and four numbers, so
# each limit is far above any real record and far below what could exhaust memory or the stack.
MAX_LINE_CHARS = 8_192  # one JSON line or CSV row; longer ones are rejected, read in bounded pieces
MAX_FIELD_CHARS = 1_024  # one CSV field or JSON string
MAX_ID_CHARS = 256
MAX_INTEGER_DIGITS = 20  # a JSON integer (Python would otherwise parse, then fail, 5,000 digits)
MAX_JSON_DEPTH = 8  # nested arrays/objects in one record (a flat object is depth 1)
# The declared domain of every feature, in centimetres: finite and inside it in the model's
# dtype (float32), or the record is rejected rather than scored into a confident wrong label.
FEATURE_DOMAIN = (0.0, 100.0)

_DATE_FOLDER = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Seed of the id/key hashes: batches hashed while staging must match hashes of the staged files.
HASH_SEED = 0
# Rows per intermediate frame while streaming a file: bounds the Python objects alive at once.
BATCH_ROWS = 4_096
# Landed keys looked up at once by the coverage count.
LOOKUP_ROWS = 65_536
# Mirrors odf_resources.storage.safe_key: other names cannot be read through ODF storage.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=\-]*")

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


@dataclass(frozen=True)
class LandingEntry:
    """One object under the landing prefix, classified: ``problem`` says why it cannot be read."""

    key: str
    version: str
    date: str | None
    problem: str | None = None
    size: int | None = None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def date_prefix(partition: str) -> str:
    return f"{LANDING_PREFIX}/date={partition}"


def classify_landing_key(key: str, version: str, size: int | None = None, symlink: bool = False) -> LandingEntry:
    """Where a landed object belongs: ``date`` is None when it is in no valid date folder.
    Names are quoted (escaped, capped) in every problem: they come from clients."""

    def entry(day: str | None, problem: str | None = None) -> LandingEntry:
        return LandingEntry(key, version, day, problem, size)

    # A control character anywhere (a newline forging log lines, a date folder "date=…\n") makes
    # the whole key untrustworthy: refused, and never attributed to a date.
    if _CONTROL.search(key):
        return entry(None, f"{quote(key)} has control characters in its name; refused")
    relative = key[len(LANDING_PREFIX) + 1 :] if key.startswith(LANDING_PREFIX + "/") else key
    folder, _, rest = relative.partition("/")
    match = _DATE_FOLDER.fullmatch(folder)
    if symlink and not (rest and match):  # a linked date folder (or a link above one)
        return entry(None, f"{quote(key)} is a symbolic link; links are never followed")
    if not rest or not match:
        return entry(None, f"{quote(key)} is not inside a {LANDING_PREFIX}/date=YYYY-MM-DD/ folder")
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        return entry(None, f"{quote(folder)} in {quote(key)} is not a valid calendar date")
    day = match.group(1)
    if symlink:
        return entry(day, f"{quote(rest)} is a symbolic link; links are never followed")
    if "/" in rest:
        return entry(day, f"{quote(key)} is in a sub-folder; files must sit directly in {folder}/")
    if not _SAFE_NAME.fullmatch(rest):
        return entry(
            day,
            f"file name {quote(rest)} is not allowed: "
            "use letters, digits, '_', '-', '.', '=' and do not start with '.' or '-'",
        )
    if not rest.endswith(SUPPORTED_SUFFIXES):
        return entry(day, f"{quote(rest)} is not a .jsonl or .csv file")
    return entry(day)


# -- parsing ---------------------------------------------------------------------------------


class FileTooLargeError(Exception):
    """A landed file is larger than the per-file limit."""


class _Capped(io.RawIOBase):
    """A binary stream that fails once more than ``limit`` bytes were read (a file may grow after listing)."""

    def __init__(self, stream: BinaryIO, limit: int | None) -> None:
        self.stream, self.limit, self.read_bytes = stream, limit, 0
        self.failure: Exception | None = None  # an error of the underlying (storage) stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.stream.read(len(buffer))
        except Exception as error:
            self.failure = error
            raise
        self.read_bytes += len(data)
        if self.limit is not None and self.read_bytes > self.limit:
            raise FileTooLargeError(self.limit)
        buffer[: len(data)] = data
        return len(data)


def file_problem(entry: LandingEntry, problem: str) -> pl.DataFrame:
    """A single landed row standing for a whole unreadable file."""
    import polars as pl

    row = {
        "source_file": entry.name,
        "source_version": entry.version,
        "line": FILE_LEVEL_LINE,
        "id": None,
        **{f: None for f in FEATURES},
        "record": None,
        "problem": problem,
    }
    return pl.DataFrame([row], schema=polars_schema(LANDED_SCHEMA))


def _too_large(entry: LandingEntry, limit: int) -> str:
    size = entry.size if entry.size is not None and entry.size > limit else f"more than {limit}"
    return f"{size} bytes is above the per-file limit of {limit} bytes (ODF_LANDING_MAX_FILE_BYTES)"


def _as_number(field: str, value: object) -> tuple[float | None, str | None]:
    # bool is an int in Python, but true/false is not a measurement.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, f"{field}={quote(value)} is not a number"
    return float(value), None


def _id_text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text or None


def _row(line: int, raw: str, item_id, features, problem) -> tuple:
    # The raw text is kept only for records with a problem: it is what a reject shows, and keeping
    # it for every record would double the memory a large file takes.
    return (line, item_id, *features, raw[:MAX_RECORD_CHARS] if problem else None, problem)


class _RecordProblem(ValueError):
    """One record is refused (a bound exceeded); its message is the reason."""


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _RecordProblem(f"an integer of {len(digits.lstrip('-'))} digits (at most {MAX_INTEGER_DIGITS})")
    return int(digits)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _json_depth(raw: str) -> int:
    """How deeply arrays/objects nest in ``raw`` (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", raw)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _bounded_lines(text) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text, problem) per line; a line over ``MAX_LINE_CHARS`` is read on in bounded
    pieces to its end and comes back cut, with its problem, so no line is ever held whole."""
    number = 0
    while line := text.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) <= MAX_LINE_CHARS or line.endswith(("\n", "\r")):
            yield number, line.rstrip("\r\n"), None
            continue
        total = len(line)
        while (rest := text.readline(1 << 16)) and not rest.endswith(("\n", "\r")):
            total += len(rest)
        total += len(rest.rstrip("\r\n"))
        yield number, line[:MAX_RECORD_CHARS], f"line of {total} characters is above the limit of {MAX_LINE_CHARS}"


def _unreadable(error: Exception) -> str:
    if isinstance(error, _RecordProblem):
        return str(error)
    if isinstance(error, RecursionError):
        return "nested too deeply to read"
    return f"unreadable record ({type(error).__name__}: {quote(str(error), 120)})"


def _jsonl_record(number: int, raw: str) -> tuple:
    # Counting brackets is cheap; the exact depth is measured only when it could be too deep.
    if raw.count("[") + raw.count("{") > MAX_JSON_DEPTH and (depth := _json_depth(raw)) > MAX_JSON_DEPTH:
        return _row(number, raw, None, [None] * 4, f"nested {depth} levels deep (at most {MAX_JSON_DEPTH})")
    try:
        record = json.loads(raw, parse_int=_bounded_int)
    except json.JSONDecodeError as error:
        return _row(number, raw, None, [None] * 4, f"not valid JSON: {error.msg} at column {error.colno}")
    if not isinstance(record, dict):
        return _row(number, raw, None, [None] * 4, f"expected a JSON object, got {type(record).__name__}")
    problems = []
    extra = sorted(set(record) - {"id", *FEATURES})
    if extra:
        problems.append(f"unexpected field(s) {quote(extra)}: a record is an id plus {', '.join(FEATURES)}")
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
        problems.insert(
            0,
            f"id {quote(record['id'])} is not a non-empty string or integer" if "id" in record else "id is missing",
        )
    elif len(item_id) > MAX_ID_CHARS:
        problems.insert(0, f"id of {len(item_id)} characters is above the limit of {MAX_ID_CHARS}")
        item_id = None
    return _row(number, raw, item_id, features, "; ".join(problems) or None)


def _jsonl_rows(text) -> Iterator[tuple]:
    for number, raw, too_long in _bounded_lines(text):
        if too_long:
            yield _row(number, raw, None, [None] * 4, too_long)
            continue
        if not raw.strip():
            continue
        try:  # any failure of any kind is this record's reject, never the file's or the date's
            yield _jsonl_record(number, raw)
        except Exception as error:  # noqa: BLE001 - hostile input can raise anything the parser can
            yield _row(number, raw, None, [None] * 4, _unreadable(error))


class _OneLine:
    """The csv module's input, one physical line at a time: a quote cannot swallow the next lines."""

    def __init__(self) -> None:
        self.line: str | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line, self.line = self.line, None
        if line is None:
            raise StopIteration
        return line


def _csv_fields(reader, feeder: _OneLine, raw: str) -> list[str]:
    feeder.line = raw
    values = next(reader, [])
    feeder.line = None
    if too_long := next((len(v) for v in values if len(v) > MAX_FIELD_CHARS), None):
        raise _RecordProblem(f"a field of {too_long} characters is above the limit of {MAX_FIELD_CHARS}")
    return values


def _csv_record(number: int, raw: str, values: list[str], header: list[str], position: dict) -> tuple:
    if len(values) != len(header):
        return _row(number, raw, None, [None] * 4, f"expected {len(header)} values, got {len(values)}")
    item_id = _id_text(values[position["id"]])
    problems, features = ([] if item_id else ["id is empty"]), []
    if item_id and len(item_id) > MAX_ID_CHARS:
        problems, item_id = [f"id of {len(item_id)} characters is above the limit of {MAX_ID_CHARS}"], None
    for field in FEATURES:
        text_value = values[position[field]].strip()
        try:
            features.append(float(text_value))
        except ValueError:
            features.append(None)
            problems.append(f"{field}={quote(text_value)} is not a number")
    return _row(number, raw, item_id, features, "; ".join(problems) or None)


def _csv_rows(text) -> Iterator[tuple]:
    feeder = _OneLine()
    reader = csv.reader(feeder)
    lines = _bounded_lines(text)
    first = next(lines, None)
    try:
        header = [] if first is None or first[2] else [name.strip() for name in _csv_fields(reader, feeder, first[1])]
    except Exception:  # noqa: BLE001 - an unreadable header voids the file, with the reason below
        header = []
    expected = ["id", *FEATURES]
    if sorted(header) != sorted(expected):
        shown = first[1] if first and not header else header
        raise _FileProblem(f"CSV header {quote(shown)} must name exactly these columns (any order): {expected}")
    position = {name: index for index, name in enumerate(header)}
    for number, raw, too_long in lines:
        if too_long:
            yield _row(number, raw, None, [None] * 4, too_long)
            continue
        try:  # as for JSON Lines: a failure is this record's reject
            values = _csv_fields(reader, feeder, raw)
            if not any(value.strip() for value in values):
                continue
            yield _csv_record(number, raw, values, header, position)
        except Exception as error:  # noqa: BLE001
            problem = f"not valid CSV: {quote(str(error), 120)}" if isinstance(error, csv.Error) else _unreadable(error)
            yield _row(number, raw, None, [None] * 4, problem)


class _FileProblem(Exception):
    """The whole file is unreadable (bad header): one file-level row instead of records."""


_ROW_SCHEMA = {name: LANDED_SCHEMA[name] for name in ("line", "id", *FEATURES, "record", "problem")}


class LandingFileProblem(Exception):
    """The whole file is unreadable or refused; its message is the reason (records read so far are void)."""


def landing_batches(entry: LandingEntry, stream: BinaryIO, max_bytes: int | None = None) -> Iterator[pl.DataFrame]:
    """The records of one landed file as ``LANDED_SCHEMA`` frames of up to ``BATCH_ROWS`` rows, read
    as a stream: memory follows the batch, not the file. ``LandingFileProblem`` voids the file;
    an error of the storage stream itself propagates as it is (it says nothing about the data)."""
    import polars as pl

    if entry.problem:
        raise LandingFileProblem(entry.problem)
    if max_bytes is not None and entry.size is not None and entry.size > max_bytes:
        raise LandingFileProblem(_too_large(entry, max_bytes))
    capped = _Capped(stream, max_bytes)
    text = io.TextIOWrapper(io.BufferedReader(capped, 1 << 20), encoding="utf-8-sig", newline="")
    rows = _csv_rows(text) if entry.name.endswith(".csv") else _jsonl_rows(text)
    try:
        while batch := list(itertools.islice(rows, BATCH_ROWS)):
            frame = pl.DataFrame(batch, schema=polars_schema(_ROW_SCHEMA), orient="row")
            yield frame.with_columns(
                source_file=pl.lit(entry.name, pl.String), source_version=pl.lit(entry.version, pl.String)
            ).select(list(LANDED_SCHEMA))
    except UnicodeDecodeError:
        raise LandingFileProblem("not UTF-8 text") from None
    except FileTooLargeError:
        raise LandingFileProblem(_too_large(entry, max_bytes)) from None
    except _FileProblem as problem:
        raise LandingFileProblem(str(problem)) from None
    except Exception as error:
        if capped.failure is not None:  # storage, not data: the caller reports (and retries) it
            raise
        raise LandingFileProblem(f"unreadable file ({type(error).__name__}: {quote(str(error), 120)})") from None


def parse_landing_stream(entry: LandingEntry, stream: BinaryIO, max_bytes: int | None = None) -> pl.DataFrame:
    """Every record of one landed file as a row of ``LANDED_SCHEMA``; problems noted, never raised."""
    import polars as pl

    try:
        batches = list(landing_batches(entry, stream, max_bytes))
    except LandingFileProblem as problem:
        return file_problem(entry, str(problem))
    return pl.concat(batches) if batches else pl.DataFrame(schema=polars_schema(LANDED_SCHEMA))


def parse_landing_file(entry: LandingEntry, data: bytes) -> pl.DataFrame:
    """``parse_landing_stream`` over bytes already in memory."""
    return parse_landing_stream(entry, io.BytesIO(data))


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
