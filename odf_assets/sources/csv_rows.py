"""A source's CSV conventions and the Python CSV passes that explain what Polars' reader refused:
where a data row starts, how many fields it has, which rows are longer than the header. They run
only when a row needs reporting; quoted fields may span lines, so a line number needs a CSV reader."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@contextmanager
def field_limit(limit: int) -> Iterator[None]:
    """Python's CSV reader refuses fields over 128 KiB by default: use the source limit instead,
    for the diagnostics passes only, and restore it."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


@dataclass(frozen=True)
class CsvDialect:
    """The CSV conventions of one source (see the registry's ``csv:`` key)."""

    delimiter: str = ","
    quote_char: str | None = '"'
    null_values: tuple[str, ...] = ()
    encoding: str = "utf8"
    # False: the file has no header line; its columns are the schema's, in order.
    header: bool = True

    def reader(self, handle) -> Iterator[list[str]]:
        quoting = csv.QUOTE_MINIMAL if self.quote_char else csv.QUOTE_NONE
        return csv.reader(handle, delimiter=self.delimiter, quotechar=self.quote_char or '"', quoting=quoting)


def _open_text(path: Path):
    # The scanned file is UTF-8 by then (latin1 sources are transcoded first); bad bytes must not
    # stop the diagnostics that explain them.
    return open(path, newline="", encoding="utf-8", errors="replace")


def header_of(path: Path, dialect: CsvDialect) -> list[str]:
    with _open_text(path) as handle:
        return next(dialect.reader(handle), [])


@contextmanager
def _csv_data_rows(path: Path, dialect: CsvDialect) -> Iterator[tuple[int, Iterator[tuple[int, int, list[str]]]]]:
    """The file's width (fields of its first row, the header if it has one) and its data rows as
    (1-based row, line the row starts on, fields); blank lines are skipped, as Polars does."""
    with _open_text(path) as handle:
        reader = dialect.reader(handle)
        first = next(reader, None)
        if first is None:
            yield 0, iter(())
            return
        if not dialect.header:  # the first row sets the width, and is data
            handle.seek(0)
            reader = dialect.reader(handle)

        def rows() -> Iterator[tuple[int, int, list[str]]]:
            row_number, start_line = 0, reader.line_num + 1
            for record in reader:
                if record:
                    row_number += 1
                    yield row_number, start_line, record
                start_line = reader.line_num + 1

        yield len(first), rows()


def first_ragged_line(path: Path, dialect: CsvDialect) -> str | None:
    """Polars' CSV errors don't always say where; find the first row with the wrong field count."""
    with _csv_data_rows(path, dialect) as (width, rows):
        for _, line, record in rows:
            if len(record) != width:
                return f"line {line} has {len(record)} fields, the header has {width}"
    return None


@dataclass(frozen=True)
class RowShape:
    """Where a data row starts in the file (1-based line) and how many fields it has."""

    line: int
    fields: int


def csv_row_shapes(path: Path, dialect: CsvDialect, rows: Iterable[int]) -> dict[int, RowShape]:
    """Line number and field count of the given 1-based data rows (header excluded), in one pass
    that stops at the last one asked for. Quoted fields may span lines, so a row's line number can
    only be found by reading the file as CSV; this runs only when a row needs reporting."""
    wanted = set(rows)
    shapes: dict[int, RowShape] = {}
    if not wanted:
        return shapes
    last = max(wanted)
    with _csv_data_rows(path, dialect) as (_, records):
        for row_number, line, record in records:
            if row_number in wanted:
                shapes[row_number] = RowShape(line, len(record))
            if row_number >= last:
                break
    return shapes


def csv_long_rows(path: Path, dialect: CsvDialect) -> dict[int, RowShape]:
    """Every data row (1-based, header excluded) with more fields than the header, in one pass.
    Run only after the CSV reader refused the file for such a row, so one long row fails its own
    day instead of the whole file."""
    with _csv_data_rows(path, dialect) as (width, records):
        return {row: RowShape(line, len(record)) for row, line, record in records if len(record) > width}


def is_ragged_error(error: BaseException) -> bool:
    """Whether a reader refused a CSV file because a row has more fields than the header."""
    cause = error.__cause__ or error
    return "more fields than defined" in str(cause)
