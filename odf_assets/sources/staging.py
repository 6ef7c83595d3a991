"""Stages one fetched file: one streaming Polars pass writes each day's typed rows to a finished
Parquet file and measures every day (rows, values that did not convert, nulls, ranges, keys).

The file is read through ``source_files`` (bounded, decoded, scanned); rows are re-read only to
report a problem (``row_reports``). Calls go one way: staging calls parsing, never the reverse.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets import checks, quality
from odf_assets.sources import transforms
from odf_assets.sources.csv_rows import CsvDialect, RowShape, csv_long_rows, field_limit, is_ragged_error
from odf_assets.sources.file_limits import SourceFileError
from odf_assets.sources.registry import SourceSpec
from odf_assets.sources.row_reports import LONG_ROW, MAYBE_SHORT, ROW, RowReporter
from odf_assets.sources.source_files import parse_errors, prepare_source_file, scan_source_file
from odf_resources.source_fetcher import SourceLimits

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

# Up to this many fetched bytes, a day's distinct keys are counted in the staging pass itself;
# past it, afterwards over the day's staged file in hash slices (bounded memory).
KEYS_IN_PASS_MAX_BYTES = 200 << 20


class FileStager:
    """Stages one fetched file that holds the rows of ``days`` (one day, or a whole-file window)."""

    def __init__(
        self,
        spec: SourceSpec,
        dialect: CsvDialect,
        contract: checks.Contract,
        path: Path,
        located: str,
        workdir: Path,
        tag: str,
        limits: SourceLimits,
    ):
        self.spec, self.located, self.workdir, self.tag, self.limits = spec, located, workdir, tag, limits
        self.dialect, self.contract = dialect, contract
        self.label = f"{spec.name} {located}"
        self.fetched = path
        self.long_rows: dict[int, RowShape] = {}
        self.quarantined: Path | None = None

    def stage(self, days: list[date], fixed_day: date | None, fetched_bytes: int) -> tuple[dict, dict, int]:
        """(files by day, findings by day, rows without a day) for ``days``."""
        keys = [day.isoformat() for day in days]
        try:
            with field_limit(self.limits.max_field_bytes):
                return self._bounded_stage(days, keys, fixed_day, fetched_bytes)
        except (SourceFileError, transforms.ConformError, csv.Error) as error:
            # csv.Error: Python's reader in a diagnostics pass (a field over max_field_bytes).
            problem = str(error) if not isinstance(error, csv.Error) else f"{self.label}: not valid CSV: {error}"
            return {}, {key: checks.DayFindings(schema_problems=(problem,)) for key in keys}, 0

    def _bounded_stage(self, days, keys, fixed_day, fetched_bytes) -> tuple[dict, dict, int]:
        """Decompressed (by content) and bounded before any reader sees it, then staged."""
        self.path = prepare_source_file(
            self.fetched, self.spec.format, self.dialect, self.limits, self.workdir, self.label, list(self.spec.schema)
        )
        if self.path != self.fetched:  # memory decisions follow the bytes the reader will see
            fetched_bytes = self.path.stat().st_size
        try:
            return self._scan_and_stage(days, keys, fixed_day, fetched_bytes, {})
        except SourceFileError as error:
            # A row with more fields than the header stops the CSV reader for the whole file:
            # find those rows, read again without their extra fields and fail only their days.
            long_rows = csv_long_rows(self.path, self.dialect) if self.spec.format == "csv" else {}
            if not long_rows or not is_ragged_error(error):
                raise
            return self._scan_and_stage(days, keys, fixed_day, fetched_bytes, long_rows)

    def _scan_and_stage(self, days, keys, fixed_day, fetched_bytes, long_rows: dict) -> tuple[dict, dict, int]:
        self.long_rows = long_rows
        fmt = self.spec.format
        frame = scan_source_file(
            self.path,
            fmt,
            self.label,
            self.dialect,
            truncate_ragged=bool(long_rows),
            limits=self.limits,
            columns=list(self.spec.schema),
        )
        with parse_errors(self.path, fmt, self.label, self.dialect):
            if self.spec.rename:
                frame = frame.rename(self.spec.rename, strict=False)
            return self._stage(frame, days, keys, fixed_day, fetched_bytes)

    def _stage(self, frame: pl.LazyFrame, days, keys, fixed_day, fetched_bytes) -> tuple[dict, dict, int]:
        import polars as pl

        spec, schema = self.spec, self.spec.schema
        found = frame.collect_schema()
        if len(found) > self.limits.max_columns:
            raise SourceFileError(
                f"{self.label}: {len(found)} columns, more than the limit of {self.limits.max_columns}; refused"
            )
        missing = transforms.missing_columns(found, schema)
        if missing:
            problem = f"{self.label}: missing column(s) {missing}; expected {list(schema)}, found {found.names()[:50]}"
            return {}, {key: checks.DayFindings(schema_problems=(problem,)) for key in keys}, 0
        extra_columns = tuple(column for column in found.names() if column not in schema)
        # A row with too few fields leaves its last field empty; only those rows are re-read.
        maybe_short = [pl.col(found.names()[-1]).is_null().alias(MAYBE_SHORT)] if spec.format == "csv" else []
        source = frame
        if self.long_rows:
            source = frame.with_row_index(ROW, offset=1)
            long = pl.when(pl.col(ROW).is_in(list(self.long_rows))).then(pl.col(ROW))
            maybe_short.append(long.alias(LONG_ROW))
        flagged = transforms.with_conversion_flags(source, schema, spec.name, self.located, spec.parsing, maybe_short)
        if fixed_day is None:
            day = transforms.partition_day(flagged, str(spec.date_column), spec.parsing.timezone)
        else:
            day = pl.lit(fixed_day, dtype=pl.Date)
        flagged = flagged.with_columns(day.alias(transforms.PARTITION_COLUMN))
        in_window = pl.col(transforms.PARTITION_COLUMN).is_between(days[0], days[-1], closed="both")
        stored = list(dict.fromkeys([*schema, transforms.PARTITION_COLUMN]))
        # A per-day file is all one day: no filter, no split. A whole file is cut by day.
        rows = flagged if fixed_day is not None else flagged.filter(in_window)
        parts = self.workdir / f"parts-{self.tag}"
        if len(keys) == 1:
            target: Path | pl.PartitionBy = parts / f"{transforms.PARTITION_COLUMN}={keys[0]}" / "0.parquet"
        else:
            target = pl.PartitionBy(
                parts, key=transforms.PARTITION_COLUMN, include_key=True, approximate_bytes_per_file=None
            )
        sink = rows.select(stored).sink_parquet(target, mkdir=True, compression="zstd", lazy=True)
        keys_in_pass = fetched_bytes <= KEYS_IN_PASS_MAX_BYTES
        flags = [transforms.FLAG_PREFIX + column for column in transforms.flagged_columns(schema)]
        # Only aggregations the streaming group-by runs natively (sum, min, len): a filter inside an
        # aggregation would make Polars hold each day's rows in memory.
        # Row numbers are only needed to report a bad row, so they are found afterwards, if at all.
        per_day = [
            *checks.measures(self.contract, keys_in_pass),
            *[pl.col(flag).sum().alias(f"bad.{flag}") for flag in flags],
        ]
        if spec.format == "csv":
            per_day.append(pl.col(MAYBE_SHORT).sum().alias(MAYBE_SHORT))
        if self.long_rows:
            per_day += [pl.col(LONG_ROW).count().alias("long_rows"), pl.col(LONG_ROW).min().alias("first_long_row")]
        # Grouped on the Date itself: formatting a key per row would cost more than the measures.
        day_key = pl.col(transforms.PARTITION_COLUMN).alias(quality.DAY)
        stats = flagged.filter(in_window | pl.col(transforms.PARTITION_COLUMN).is_null()).group_by(day_key).agg(per_day)
        _, measured = pl.collect_all([sink, stats], engine="streaming")
        measured = measured.with_columns(pl.col(quality.DAY).cast(pl.String))
        by_day = {row[quality.DAY]: row for row in measured.iter_rows(named=True)}
        files = self._day_files(parts, keys)
        dtypes = flagged.select(stored).collect_schema()
        # A day without rows is stored as an empty file when the source allows it (and not published otherwise).
        for key in keys:
            if key not in files:
                files[key] = self.workdir / f"day-{self.tag}-{key}.parquet"
                pl.DataFrame(schema=dtypes).write_parquet(files[key], compression="zstd")
        if self.contract.key and not keys_in_pass:
            for key, path in files.items():
                rows = by_day[key]["rows"]
                by_day[key]["distinct_keys"] = quality.distinct_keys_in_passes(
                    pl.scan_parquet(path), self.contract.key, rows
                )
        reporter = RowReporter(spec, self.label, self.path, self.dialect, self.long_rows)
        problems, without_day = reporter.problems(frame, flagged, by_day, keys)
        if without_day:
            self.quarantined = reporter.quarantine(frame, flagged, self.workdir / f"undated-{self.tag}.parquet")
        findings = {
            key: checks.DayFindings(
                by_day.get(key), extra_columns=extra_columns, row_problems=tuple(problems.get(key, ())), dtypes=dtypes
            )
            for key in keys
        }
        return files, findings, without_day

    def _day_files(self, parts: Path, keys: list[str]) -> dict[str, Path]:
        import polars as pl

        files = {}
        for key in keys:
            pieces = sorted((parts / f"{transforms.PARTITION_COLUMN}={key}").glob("*.parquet"))
            if not pieces:
                continue
            target = self.workdir / f"day-{self.tag}-{key}.parquet"
            if len(pieces) == 1:
                pieces[0].rename(target)
            else:
                pl.scan_parquet(pieces).sink_parquet(target, compression="zstd")
            files[key] = target
        return files
