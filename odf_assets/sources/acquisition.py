"""Fetch a source for a window of days and conform it to the registry: the raw asset's body.

Each fetched file is parsed once: one streaming pass writes its typed rows, with a flag per value
that did not convert, to a local Parquet file in the work directory. The flags are checked there;
the IO manager's upload and the asset checks read the same file. A partition far larger than
memory streams from source to Parquet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from odf_assets.sources import transforms
from odf_assets.sources.registry import SourceSpec
from odf_resources.source_fetcher import SourceFetcher
from odf_resources.source_files import parse_errors, scan_source_file
from odf_resources.text import redact_url


@dataclass(frozen=True)
class Acquired:
    # Lazy over files in the caller's work directory: consume it before that directory goes.
    frame: pl.LazyFrame
    # Hash of the fetched bytes per file: the raw asset's data version and dedup key.
    content_hashes: dict[str, str]
    fetched_bytes: int
    extra_columns: tuple[str, ...]

    @property
    def data_version(self) -> str:
        if len(self.content_hashes) == 1:
            return next(iter(self.content_hashes.values()))
        joined = "\n".join(f"{url} {digest}" for url, digest in sorted(self.content_hashes.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days)]


def _load(spec: SourceSpec, fetcher: SourceFetcher, url: str, where: str, workdir: Path, staged: Path):
    fetched = fetcher.fetch(url, workdir)
    located = f"{where} ({redact_url(url)})"
    label = f"{spec.name} {located}"
    frame = scan_source_file(fetched.path, spec.format, label)
    with parse_errors(fetched.path, spec.format, label):
        columns = frame.collect_schema().names()
        flagged = transforms.with_conversion_flags(frame, spec.schema, spec.name, located)
        # lz4: the file is read back at once and deleted with the work directory.
        flagged.sink_parquet(staged, compression="lz4")
        conformed = transforms.raise_on_flagged_values(pl.scan_parquet(staged), frame, spec.schema, spec.name, located)
    extra = tuple(column for column in columns if column not in spec.schema)
    return fetched, conformed, extra


def acquire(spec: SourceSpec, fetcher: SourceFetcher, start: date, end: date, workdir: Path) -> Acquired:
    """Rows of days [start, end): one file per day with ``url_template``, else one whole file cut by date."""
    hashes: dict[str, str] = {}
    total, extras, frames = 0, set(), []
    if spec.url_template:
        for day in _days(start, end):
            url = spec.url_for(day.isoformat())
            fetched, frame, extra = _load(spec, fetcher, url, f"partition {day}", workdir, workdir / f"validated-{day}.parquet")
            hashes[redact_url(url)], total = fetched.sha256, total + fetched.size
            extras.update(extra)
            frames.append(transforms.with_partition_date(frame, None, day))
        combined = pl.concat(frames, how="vertical")
    else:
        url = str(spec.url)
        where = f"partitions {start}..{end - timedelta(days=1)}"
        fetched, frame, extra = _load(spec, fetcher, url, where, workdir, workdir / "validated.parquet")
        hashes[redact_url(url)], total = fetched.sha256, fetched.size
        extras.update(extra)
        combined = transforms.with_partition_date(frame, spec.date_column, None)
    return Acquired(transforms.rows_in_window(combined, start, end), hashes, total, tuple(sorted(extras)))
