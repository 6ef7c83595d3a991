"""Reads a landed iris file (JSON Lines or CSV) as a stream into ``LANDED_SCHEMA`` frames: every
record becomes one row, with its problem when it is refused. Input bounds are checked while
reading, so a hostile file costs at most one bounded line at a time."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from odf_assets.predictions.landing_keys import LandingEntry
from odf_assets.predictions.transforms import BATCH_ROWS, FEATURES, FILE_LEVEL_LINE, LANDED_SCHEMA, polars_schema
from odf_core.text import quote

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

# Characters of a rejected record kept in its reject (what ``odf predictions`` shows).
MAX_RECORD_CHARS = 500
# Input bounds, checked while reading (README, Security): a record is an id and four numbers, so
# each limit is far above any real record and far below what could exhaust memory or the stack.
MAX_LINE_CHARS = 8_192  # one JSON line or CSV row; longer ones are rejected, read in bounded pieces
MAX_FIELD_CHARS = 1_024  # one CSV field or JSON string
MAX_ID_CHARS = 256
MAX_INTEGER_DIGITS = 20  # a JSON integer (Python would otherwise parse, then fail, 5,000 digits)
MAX_JSON_DEPTH = 8  # nested arrays/objects in one record (a flat object is depth 1)


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
