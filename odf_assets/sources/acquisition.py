"""Fetch a source for a window of days, stage each day's rows and measure each day: the raw asset's body.

Each fetched file is parsed once (``staging``). One streaming pass (Polars ``collect_all`` shares
the scan) writes the typed rows of every day to their own finished Parquet file and measures every
day: rows, values that did not convert (with their first row), nulls, ranges and keys. Rows are
only re-read to quote a bad value or find its line (``row_reports``), which happens only when there
is one. A partition far larger than memory streams from source to Parquet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets import checks
from odf_assets.sources.registry import SourceSpec
from odf_core.text import redact_url
from odf_resources.source_fetcher import FetchError, SourceFetcher, SourceUnavailableError

if TYPE_CHECKING:
    from odf_assets.sources.csv_rows import CsvDialect


@dataclass
class StagedSource:
    # Finished Parquet per day that has rows, in the caller's work directory.
    files: dict[str, Path] = field(default_factory=dict)
    findings: dict[str, checks.DayFindings] = field(default_factory=dict)
    # Hash of the fetched bytes per file: the raw asset's data version and dedup key.
    content_hashes: dict[str, str] = field(default_factory=dict)
    fetched_bytes: int = 0
    rows_without_day: int = 0
    # Rows whose day cannot be read, with their line and reason: one Parquet file per fetched file.
    quarantined: dict[str, Path] = field(default_factory=dict)
    # Days whose file could not be fetched (HTTP status, egress refusal, size limit), with the reason:
    # a fetch failure, not a data check.
    fetch_failures: dict[str, str] = field(default_factory=dict)

    @property
    def data_version(self) -> str:
        if len(self.content_hashes) == 1:
            return next(iter(self.content_hashes.values()))
        joined = "\n".join(f"{url} {digest}" for url, digest in sorted(self.content_hashes.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days)]


def dialect_for(spec: SourceSpec) -> CsvDialect:
    from odf_assets.sources.csv_rows import CsvDialect  # parsing loads at run time, not with the code location

    options = spec.parsing.csv
    return CsvDialect(options.delimiter, options.quote_char, options.null_values, options.encoding, options.header)


def contract_for(spec: SourceSpec) -> checks.Contract:
    return checks.Contract(
        key=spec.key,
        schema=spec.schema,
        null_limits=spec.max_null_fraction,
        ranges=spec.ranges,
        allow_empty=spec.allow_empty_days,
    )


def stage_source(spec: SourceSpec, fetcher: SourceFetcher, start: date, end: date, workdir: Path) -> StagedSource:
    """Rows of days [start, end), staged and measured per day: one file per day with
    ``url_template``, else one whole file cut by ``date_column``. A file that cannot be fetched or
    read fails the days it holds (a fetch failure is recorded as such, without findings);
    ``SourceUnavailableError`` (worth a retry) propagates."""
    from odf_assets.sources.staging import FileStager  # the parsing machinery: run time only

    staged = StagedSource()
    days = _days(start, end)
    dialect, contract = dialect_for(spec), contract_for(spec)
    if spec.url_template:
        batches = [(spec.url_for(day.isoformat()), [day], day, f"partition {day}") for day in days]
    else:
        batches = [(str(spec.url), days, None, f"partitions {days[0]}..{days[-1]}")]
    for index, (url, batch_days, fixed_day, where) in enumerate(batches):
        located = f"{where} ({redact_url(url)})"
        keys = [day.isoformat() for day in batch_days]
        try:
            fetched = fetcher.fetch(url, workdir)
        except SourceUnavailableError:
            raise
        except FetchError as error:
            staged.fetch_failures.update({key: str(error) for key in keys})
            continue
        staged.content_hashes[redact_url(url)] = fetched.sha256
        staged.fetched_bytes += fetched.size
        stager = FileStager(spec, dialect, contract, fetched.path, located, workdir, str(index), fetcher.limits())
        files, findings, without_day = stager.stage(batch_days, fixed_day, fetched.size)
        staged.files.update(files)
        staged.findings.update(findings)
        staged.rows_without_day += without_day
        if stager.quarantined is not None:
            staged.quarantined[fetched.sha256] = stager.quarantined
    return staged
