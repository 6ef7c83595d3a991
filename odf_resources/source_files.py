"""Reads a fetched source file into a Polars frame, with errors that point at the bad line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from odf_resources.polars_tuning import bound_csv_read_memory


class SourceFileError(ValueError):
    """A fetched file that cannot be parsed in its declared format."""


def _first_ragged_line(path: Path) -> str | None:
    """Polars' CSV errors don't always say where; find the first row with the wrong field count."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return None
        for row in reader:
            if row and len(row) != len(header):
                return f"line {reader.line_num} has {len(row)} fields, the header has {len(header)}"
    return None


def scan_source_file(path: Path, fmt: str, where: str) -> pl.LazyFrame:
    """A lazy scan of ``path`` as ``fmt``; CSV is read as text so the registry schema decides types.

    Scanning reads only the header/footer, so errors in the body surface when the frame is first
    collected: wrap that in ``parse_errors(path, fmt, where)``.
    """
    if path.stat().st_size == 0:
        raise SourceFileError(f"{where}: the file is empty (0 bytes); expected {fmt.upper()} data")
    with parse_errors(path, fmt, where):
        if fmt == "csv":
            bound_csv_read_memory()
            return pl.scan_csv(path, infer_schema=False)
        if fmt == "jsonl":
            return pl.scan_ndjson(path)
        if fmt == "parquet":
            return pl.scan_parquet(path)
        if fmt == "json":
            # A JSON document has no streaming reader; only JSON Lines scales past memory.
            return pl.read_json(path).lazy()
    raise SourceFileError(f"{where}: unsupported format {fmt!r}")


@contextmanager
def parse_errors(path: Path, fmt: str, where: str) -> Iterator[None]:
    """Turn a reader's error into a SourceFileError that names the file and, for CSV, the line."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as error:
        # Reader failures only: schema errors (ConformError) already name column and row.
        detail = _first_ragged_line(path) if fmt == "csv" else None
        raise SourceFileError(f"{where}: not valid {fmt.upper()}: {detail or str(error).splitlines()[0]}") from error
