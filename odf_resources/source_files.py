"""Reads a fetched source file into a Polars frame, with errors that point at the bad line."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from odf_resources.polars_tuning import bound_csv_read_memory
from odf_resources.storage import StorageError, is_storage_failure
from odf_resources.text import quote

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

# Large enough that transcoding runs at disk speed, small enough to stay out of the memory budget.
_TRANSCODE_CHUNK_CHARS = 1 << 20


class SourceFileError(ValueError):
    """A fetched file that cannot be parsed in its declared format."""


@dataclass(frozen=True)
class CsvDialect:
    """The CSV conventions of one source (see the registry's ``csv:`` key)."""

    delimiter: str = ","
    quote_char: str | None = '"'
    null_values: tuple[str, ...] = ()
    encoding: str = "utf8"

    def reader(self, handle) -> Iterator[list[str]]:
        quoting = csv.QUOTE_MINIMAL if self.quote_char else csv.QUOTE_NONE
        return csv.reader(handle, delimiter=self.delimiter, quotechar=self.quote_char or '"', quoting=quoting)


def _open_text(path: Path):
    # The scanned file is UTF-8 by then (latin1 sources are transcoded first); bad bytes must not
    # stop the diagnostics that explain them.
    return open(path, newline="", encoding="utf-8", errors="replace")


def _header(path: Path, dialect: CsvDialect) -> list[str]:
    with _open_text(path) as handle:
        return next(dialect.reader(handle), [])


def _first_ragged_line(path: Path, dialect: CsvDialect) -> str | None:
    """Polars' CSV errors don't always say where; find the first row with the wrong field count."""
    with _open_text(path) as handle:
        reader = dialect.reader(handle)
        header = next(reader, None)
        if header is None:
            return None
        for row in reader:
            if row and len(row) != len(header):
                return f"line {reader.line_num} has {len(row)} fields, the header has {len(header)}"
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
    with _open_text(path) as handle:
        reader = dialect.reader(handle)
        if next(reader, None) is None:
            return shapes
        row_number, start_line = 0, reader.line_num + 1
        for record in reader:
            if record:  # Polars skips blank lines too.
                row_number += 1
                if row_number in wanted:
                    shapes[row_number] = RowShape(start_line, len(record))
                if row_number >= last:
                    break
            start_line = reader.line_num + 1
    return shapes


def transcode_to_utf8(path: Path, encoding: str) -> Path:
    """A UTF-8 copy of a file in another encoding, next to it, written in bounded chunks."""
    if encoding == "utf8":
        return path
    target = path.with_name(path.name + ".utf8")
    codec = {"latin1": "latin-1"}[encoding]
    with open(path, encoding=codec, newline="") as source, open(target, "w", encoding="utf-8", newline="") as sink:
        shutil.copyfileobj(source, sink, _TRANSCODE_CHUNK_CHARS)
    return target


def _refuse_duplicate_header(path: Path, dialect: CsvDialect, where: str) -> None:
    header = _header(path, dialect)
    seen, repeated = set(), []
    for name in header:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        names = ", ".join(quote(name, 60) for name in repeated[:5])
        raise SourceFileError(
            f"{where}: the header names column(s) {names} more than once; every column needs its own name"
        )


def scan_source_file(path: Path, fmt: str, where: str, dialect: CsvDialect | None = None) -> pl.LazyFrame:
    """A lazy scan of ``path`` as ``fmt``; CSV is read as text so the registry schema decides types.

    Scanning reads only the header/footer, so errors in the body surface when the frame is first
    collected: wrap that in ``parse_errors(path, fmt, where, dialect)``.
    """
    import polars as pl

    dialect = dialect or CsvDialect()
    if path.stat().st_size == 0:
        raise SourceFileError(f"{where}: the file is empty (0 bytes); expected {fmt.upper()} data")
    with parse_errors(path, fmt, where, dialect):
        if fmt == "csv":
            _refuse_duplicate_header(path, dialect, where)
            bound_csv_read_memory()
            return pl.scan_csv(
                path,
                infer_schema=False,
                separator=dialect.delimiter,
                quote_char=dialect.quote_char,
                null_values=list(dialect.null_values) or None,
            )
        if fmt == "jsonl":
            return pl.scan_ndjson(path)
        if fmt == "parquet":
            return pl.scan_parquet(path)
        if fmt == "json":
            # A JSON document has no streaming reader; only JSON Lines scales past memory.
            return pl.read_json(path).lazy()
    raise SourceFileError(f"{where}: unsupported format {fmt!r}")


@contextmanager
def parse_errors(path: Path, fmt: str, where: str, dialect: CsvDialect | None = None) -> Iterator[None]:
    """Turn a reader's error into a SourceFileError that names the file and, for CSV, the line."""
    import polars as pl

    try:
        yield
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        if is_storage_failure(error):  # a full disk is not the file's fault: no data check blames it
            raise StorageError(f"{where}: storage failure while staging: {str(error).splitlines()[0][:300]}") from error
        # Reader failures only: schema errors (ConformError) already name column and row.
        detail = _first_ragged_line(path, dialect or CsvDialect()) if fmt == "csv" else None
        if detail is None and "utf-8" in str(error).lower():
            detail = "the file is not valid UTF-8 (set csv.encoding: latin1 in the registry if it is Latin-1)"
        raise SourceFileError(
            f"{where}: not valid {fmt.upper()}: {detail or quote(str(error).splitlines()[0], 300)}"
        ) from error
