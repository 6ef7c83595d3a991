"""Reads a fetched source file into a Polars frame, with errors that point at the bad line."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl


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


def read_source_file(path: Path, fmt: str, where: str) -> pl.DataFrame:
    """Parse ``path`` as ``fmt``; CSV is read as text so the registry schema decides the types."""
    if path.stat().st_size == 0:
        raise SourceFileError(f"{where}: the file is empty (0 bytes); expected {fmt.upper()} data")
    try:
        if fmt == "csv":
            return pl.read_csv(path, infer_schema=False)
        if fmt == "json":
            return pl.read_json(path)
        if fmt == "jsonl":
            return pl.read_ndjson(path)
        if fmt == "parquet":
            return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        detail = _first_ragged_line(path) if fmt == "csv" else None
        raise SourceFileError(f"{where}: not valid {fmt.upper()}: {detail or str(error).splitlines()[0]}") from error
    raise SourceFileError(f"{where}: unsupported format {fmt!r}")
