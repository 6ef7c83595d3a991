"""Reads a fetched source file into a Polars frame, with errors that point at the bad line."""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from odf_core.text import quote
from odf_resources.polars_tuning import bound_csv_read_memory
from odf_resources.source_fetcher import SourceLimits
from odf_resources.storage import StorageError, is_storage_failure

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

# Large enough that transcoding runs at disk speed, small enough to stay out of the memory budget.
_TRANSCODE_CHUNK_CHARS = 1 << 20


class SourceFileError(ValueError):
    """A fetched file that cannot be parsed in its declared format."""


# Decompressed bytes per chunk: large enough for disk speed, small enough to stop a bomb early.
_DECOMPRESS_CHUNK = 1 << 20
# A small file may compress very well (a header and few repeated rows): the ratio counts past this size.
RATIO_FLOOR_BYTES = 64 << 20
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"PK\x03\x04": "zip", b"BZh": "bz2"}


def compression_of(path: Path) -> str | None:
    """The compression of a file by its content (magic bytes), whatever its name: gzip, zstd, zip, bz2."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


@contextmanager
def _open_compressed(path: Path, kind: str, where: str) -> Iterator:
    """A binary stream of the decompressed content (a zip's only member)."""
    import bz2
    import gzip
    import zipfile

    if kind in ("gzip", "bz2"):
        with (gzip.open if kind == "gzip" else bz2.open)(path, "rb") as stream:
            yield stream
        return
    if kind == "zstd":
        import zstandard

        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
            yield stream
        return
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            names = ", ".join(quote(info.filename, 60) for info in members[:5])
            raise SourceFileError(
                f"{where}: a zip source must hold exactly one file, this one holds {len(members)}: {names}"
            )
        with archive.open(members[0]) as stream:
            yield stream


def decompress(path: Path, workdir: Path, limits: SourceLimits, where: str) -> Path:
    """``path`` itself if it is not compressed, else its content streamed into ``workdir``, refused
    (``SourceFileError``) past ``max_bytes``, past ``max_ratio`` times the compressed size, or past
    the deadline: a decompression bomb stops after at most one chunk over the limit."""
    kind = compression_of(path)
    if kind is None:
        return path
    compressed = max(path.stat().st_size, 1)
    target = workdir / f"{path.name}.decompressed"
    deadline = time.monotonic() + limits.deadline_seconds
    size = 0
    try:
        with _open_compressed(path, kind, where) as source, open(target, "wb") as sink:
            for chunk in iter(lambda: source.read(_DECOMPRESS_CHUNK), b""):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise SourceFileError(
                        f"{where}: {kind} content decompresses to more than {limits.max_bytes} bytes "
                        f"(the size limit after decompression); refused"
                    )
                if size > RATIO_FLOOR_BYTES and size / compressed > limits.max_ratio:
                    raise SourceFileError(
                        f"{where}: {kind} content expands more than {limits.max_ratio:g} times "
                        f"({compressed} compressed bytes gave over {size}): a decompression bomb; refused"
                    )
                if time.monotonic() > deadline:
                    raise SourceFileError(
                        f"{where}: decompressing took longer than {limits.deadline_seconds:g} s; refused"
                    )
                sink.write(chunk)
    except SourceFileError:
        target.unlink(missing_ok=True)
        raise
    except Exception as error:  # BadGzipFile, BadZipFile, EOFError, zstandard.ZstdError: a corrupt archive
        target.unlink(missing_ok=True)
        raise SourceFileError(f"{where}: not valid {kind} data: {quote(str(error), 200)}") from None
    return target


def check_line_lengths(path: Path, limits: SourceLimits, where: str) -> None:
    """Refuse a text file with a line longer than ``max_line_bytes`` before any reader holds it:
    one pass, vectorised, constant memory; the error names the line."""
    import numpy as np

    current, line = 0, 1  # bytes of the line being read, its 1-based number
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_DECOMPRESS_CHUNK), b""):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            if not len(ends):
                current += len(chunk)
                longest, at = current, 0
            else:
                lengths = np.diff(ends, prepend=-1) - 1
                lengths[0] += current
                at = int(np.argmax(lengths))
                longest = int(lengths[at])
                if current + len(chunk) - int(ends[-1]) - 1 > longest:
                    at, longest = len(ends), current + len(chunk) - int(ends[-1]) - 1
                current = len(chunk) - int(ends[-1]) - 1
            if longest > limits.max_line_bytes:
                raise SourceFileError(
                    f"{where}: line {line + at} is longer than {limits.max_line_bytes} bytes "
                    f"(the line length limit); refused"
                )
            line += len(ends)


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


def _header(path: Path, dialect: CsvDialect) -> list[str]:
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


def _first_ragged_line(path: Path, dialect: CsvDialect) -> str | None:
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


def transcode_to_utf8(path: Path, encoding: str) -> Path:
    """A UTF-8 copy of a file in another encoding, next to it, written in bounded chunks."""
    if encoding == "utf8":
        return path
    target = path.with_name(path.name + ".utf8")
    codec = {"latin1": "latin-1"}[encoding]
    with open(path, encoding=codec, newline="") as source, open(target, "w", encoding="utf-8", newline="") as sink:
        shutil.copyfileobj(source, sink, _TRANSCODE_CHUNK_CHARS)
    return target


def _refuse_duplicate_header(path: Path, dialect: CsvDialect, where: str, max_columns: int) -> None:
    header = _header(path, dialect)
    if len(header) > max_columns:
        raise SourceFileError(
            f"{where}: the header has {len(header)} columns, more than the limit of {max_columns}; refused"
        )
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


def scan_source_file(
    path: Path,
    fmt: str,
    where: str,
    dialect: CsvDialect | None = None,
    truncate_ragged: bool = False,
    limits: SourceLimits | None = None,
    columns: list[str] | None = None,
) -> pl.LazyFrame:
    """A lazy scan of ``path`` as ``fmt``; CSV is read as text so the registry schema decides types.

    Scanning reads only the header/footer, so errors in the body surface when the frame is first
    collected: wrap that in ``parse_errors(path, fmt, where, dialect)``.
    """
    import polars as pl

    dialect = dialect or CsvDialect()
    limits = limits or SourceLimits()
    if path.stat().st_size == 0:
        raise SourceFileError(f"{where}: the file is empty (0 bytes); expected {fmt.upper()} data")
    with parse_errors(path, fmt, where, dialect):
        if fmt == "csv":
            if dialect.header:
                _refuse_duplicate_header(path, dialect, where, limits.max_columns)
            bound_csv_read_memory()
            return pl.scan_csv(
                path,
                infer_schema=False,
                separator=dialect.delimiter,
                quote_char=dialect.quote_char,
                null_values=list(dialect.null_values) or None,
                # Only once the long rows are known (``csv_long_rows``): they are flagged, not lost.
                truncate_ragged_lines=truncate_ragged,
                has_header=dialect.header,
                # A file without a header: its columns are named in the schema's order.
                new_columns=None if dialect.header else columns,
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
    except csv.Error as error:
        # Python's reader, in a diagnostics pass: a field over the limit or a broken quote.
        raise SourceFileError(f"{where}: not valid {fmt.upper()}: {quote(str(error), 300)}") from None
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        if is_storage_failure(error):  # a full disk is not the file's fault: no data check blames it
            raise StorageError(f"{where}: storage failure while staging: {str(error).splitlines()[0][:300]}") from error
        # Reader failures only: schema errors (ConformError) already name column and row.
        try:
            detail = _first_ragged_line(path, dialect or CsvDialect()) if fmt == "csv" else None
        except csv.Error as diagnostic:  # a field over the limit: that is the clearer reason
            detail = str(diagnostic)
        if detail is None and "utf-8" in str(error).lower():
            detail = "the file is not valid UTF-8 (set csv.encoding: latin1 in the registry if it is Latin-1)"
        raise SourceFileError(
            f"{where}: not valid {fmt.upper()}: {detail or quote(str(error).splitlines()[0], 300)}"
        ) from error
