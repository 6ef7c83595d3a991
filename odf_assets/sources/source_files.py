"""Reads a fetched source file into a Polars frame, with errors that point at the bad line.

``prepare_source_file`` bounds and decodes the fetched bytes (``file_limits``), ``scan_source_file``
scans them lazily, and ``parse_errors`` turns a reader's failure into a ``SourceFileError`` that
names the file and, for CSV, the line (``csv_rows``)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets.sources.csv_rows import CsvDialect, first_ragged_line, header_of
from odf_assets.sources.field_lengths import check_field_lengths
from odf_assets.sources.file_limits import SourceFileError, check_line_lengths, decompress
from odf_core.text import quote
from odf_resources.polars_tuning import bound_csv_read_memory
from odf_resources.source_fetcher import SourceLimits
from odf_resources.storage import StorageError, is_storage_failure

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

# Large enough that transcoding runs at disk speed, small enough to stay out of the memory budget.
_TRANSCODE_CHUNK_CHARS = 1 << 20


def prepare_source_file(
    path: Path, fmt: str, dialect: CsvDialect, limits: SourceLimits, workdir: Path, where: str, columns: list[str]
) -> Path:
    """The file a reader may scan: decompressed by content into ``workdir`` and bounded, its lines
    checked against the limit (CSV, JSON Lines), a CSV transcoded to UTF-8 and its fields checked
    against the field limit. ``columns``: the declared names, for a CSV without a header line.
    Refusals raise ``SourceFileError``."""
    path = decompress(path, workdir, limits, where)
    if fmt in ("csv", "jsonl"):
        check_line_lengths(path, limits, where)
    if fmt != "csv":
        return path
    path = transcode_to_utf8(path, dialect.encoding)
    check_field_lengths(path, dialect, limits, where, columns)
    return path


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
    header = header_of(path, dialect)
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
            detail = first_ragged_line(path, dialect or CsvDialect()) if fmt == "csv" else None
        except csv.Error as diagnostic:  # a field over the limit: that is the clearer reason
            detail = str(diagnostic)
        if detail is None and "utf-8" in str(error).lower():
            detail = "the file is not valid UTF-8 (set csv.encoding: latin1 in the registry if it is Latin-1)"
        raise SourceFileError(
            f"{where}: not valid {fmt.upper()}: {detail or quote(str(error).splitlines()[0], 300)}"
        ) from error
