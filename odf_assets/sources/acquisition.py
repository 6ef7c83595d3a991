"""Fetch a source for a window of days, stage each day's rows and measure each day: the raw asset's body.

Each fetched file is parsed once. One streaming pass (Polars ``collect_all`` shares the scan)
writes the typed rows of every day to their own finished Parquet file and measures every day:
rows, values that did not convert (with their first row), nulls, ranges and keys. Rows are only
re-read to quote a bad value or find its line, which happens only when there is one. A partition
far larger than memory streams from source to Parquet.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets import checks, quality
from odf_assets.sources import transforms
from odf_assets.sources.registry import SourceSpec
from odf_assets.sources.source_files import (
    CsvDialect,
    SourceFileError,
    check_line_lengths,
    csv_long_rows,
    csv_row_shapes,
    decompress,
    field_limit,
    is_ragged_error,
    parse_errors,
    scan_source_file,
    transcode_to_utf8,
)
from odf_core.text import quote, redact_url
from odf_resources.source_fetcher import FetchError, SourceFetcher, SourceLimits, SourceUnavailableError

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

ROW = transforms.ROW_NUMBER
MAYBE_SHORT = "__odf_maybe_short"
# The row number of a row with more fields than the header (null for every other row).
LONG_ROW = "__odf_long_row"
# Rows whose day cannot be read are kept aside (quarantined) up to this many per file; past it they are counted.
QUARANTINE_MAX_ROWS = 100_000
# Up to this many fetched bytes, a day's distinct keys are counted in the staging pass itself;
# past it, afterwards over the day's staged file in hash slices (bounded memory).
KEYS_IN_PASS_MAX_BYTES = 200 << 20


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


def _position(fmt: str, row: int, line: int | None) -> str:
    if fmt == "csv":
        return f"line {line}" if line else f"data row {row}"
    return f"line {row}" if fmt == "jsonl" else f"record {row}"


class _FileStager:
    """Stages one fetched file that holds the rows of ``days`` (one day, or a whole-file window)."""

    def __init__(self, spec: SourceSpec, path: Path, located: str, workdir: Path, tag: str, limits: SourceLimits):
        self.spec, self.located, self.workdir, self.tag, self.limits = spec, located, workdir, tag, limits
        self.dialect = dialect_for(spec)
        self.label = f"{spec.name} {located}"
        self.fetched = path
        self.contract = contract_for(spec)
        self.long_rows: dict = {}
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
        path = decompress(self.fetched, self.workdir, self.limits, self.label)
        if path != self.fetched:  # memory decisions follow the bytes the reader will see
            fetched_bytes = path.stat().st_size
        if self.spec.format in ("csv", "jsonl"):
            check_line_lengths(path, self.limits, self.label)
        self.path = transcode_to_utf8(path, self.dialect.encoding) if self.spec.format == "csv" else path
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
        problems, without_day = self._row_problems(frame, flagged, by_day, keys)
        if without_day:
            self.quarantined = self._quarantine(frame, flagged)
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

    def _row_problems(
        self, frame: pl.LazyFrame, flagged: pl.LazyFrame, by_day: dict, keys: list[str]
    ) -> tuple[dict[str, list[str]], int]:
        """Per day, what is wrong with its rows (bad values, missing or extra fields), each with its
        line, column and quoted value, and how many rows have no day. Those are quarantined, or with
        ``checks.undated_rows: fail`` count against every day."""
        schema, fmt = self.spec.schema, self.spec.format
        bad: dict[str | None, list[tuple[str, int, int]]] = {}
        candidates: dict[str | None, list[int]] = {}
        first_rows = self._first_bad_rows(flagged, by_day)
        for key, row in by_day.items():
            for column in transforms.flagged_columns(schema):
                count = row[f"bad.{transforms.FLAG_PREFIX}{column}"]
                if count:
                    bad.setdefault(key, []).append((column, first_rows[key][column], count))
        if any(row.get(MAYBE_SHORT) for row in by_day.values()):
            candidates = self._short_row_candidates(flagged, set(by_day))
        header_fields = len(frame.collect_schema())
        problems: dict[str | None, list[str]] = {}
        for key, row in by_day.items():
            if row.get("long_rows"):
                first = self.long_rows[row["first_long_row"]]
                problems.setdefault(key, []).append(
                    f"{self.label}: line {first.line} has {first.fields} field(s), the header has "
                    f"{header_fields} ({row['long_rows']} long row(s) on this day)"
                )
        without_day = by_day[None]["rows"] if None in by_day else 0
        wanted = {row for entries in bad.values() for _, row, _ in entries} | {
            r for rows in candidates.values() for r in rows
        }
        shapes = csv_row_shapes(self.path, self.dialect, wanted) if fmt == "csv" and wanted else {}
        quoted = self._original_values(frame, {row: column for entries in bad.values() for column, row, _ in entries})
        for key, entries in bad.items():
            for column, row, count in entries:
                where = _position(fmt, row, shapes[row].line if row in shapes else None)
                kind = schema[column]
                pattern = self.spec.parsing.formats.get(column)
                expected = f"{kind} (format {pattern})" if pattern else kind
                text = (
                    f"{self.label}: {where}, column {quote(column)}: {quoted.get(row, '?')} is not a valid {expected}"
                )
                zone = self.spec.parsing.timezone
                if kind == "datetime" and zone:
                    text += f" in time zone {zone}"
                text += (
                    f" ({count} bad value(s) in this column on this day)"
                    if key is not None
                    else "; the row's day is unknown"
                )
                problems.setdefault(key, []).append(text)
        for key, rows in candidates.items():
            short = [row for row in rows if row in shapes and shapes[row].fields < header_fields]
            if short:
                first = shapes[short[0]]
                problems.setdefault(key, []).append(
                    f"{self.label}: line {first.line} has {first.fields} field(s), the header has {header_fields}"
                    f" ({len(short)} short row(s) on this day)"
                )
        unknown = problems.pop(None, [])
        if without_day and self.spec.undated_rows == "fail":
            # Strict mode: a row whose day cannot be read could belong to any day, so none is complete.
            unknown = unknown or [
                f"{self.label}: {without_day} row(s) have no {self.spec.date_column}; the row's day is unknown"
            ]
            return {key: unknown + problems.get(key, []) for key in keys}, without_day
        return problems, without_day

    def _quarantine(self, frame: pl.LazyFrame, flagged: pl.LazyFrame) -> Path:
        """The rows whose day cannot be read, in a Parquet file: their data row, their line (CSV),
        why, and their fields as the source wrote them (a struct, so no source name can collide)."""
        import polars as pl

        date_column = str(self.spec.date_column)
        rows = (
            flagged.with_row_index(ROW, offset=1)
            .filter(pl.col(transforms.PARTITION_COLUMN).is_null())
            .select(ROW)
            .head(QUARANTINE_MAX_ROWS)
            .collect(engine="streaming")[ROW]
            .to_list()
        )
        found = frame.collect_schema()
        fields = [pl.col(name).cast(pl.String) for name, dtype in found.items() if not dtype.is_nested()]
        picked = (
            frame.with_row_index(ROW, offset=1)
            .filter(pl.col(ROW).is_in(rows))
            .select(ROW, pl.struct(fields).alias("fields"))
            .collect(engine="streaming")
        )
        shapes = csv_row_shapes(self.path, self.dialect, rows) if self.spec.format == "csv" else {}
        kind = self.spec.schema[date_column]
        pattern = self.spec.parsing.formats.get(date_column)
        expected = f"{kind} (format {pattern})" if pattern else kind
        if kind == "datetime" and self.spec.parsing.timezone:
            expected += f" in time zone {self.spec.parsing.timezone}"

        def reason(value: str | None) -> str:
            if value is None or not value.strip():
                return f"no value in date_column {quote(date_column)}"
            return f"date_column {quote(date_column)}: {quote(value)} is not a valid {expected}"

        values = [record.get(date_column) for record in picked["fields"].to_list()]
        quarantined = pl.DataFrame(
            {
                "source_row": picked[ROW].cast(pl.Int64),
                "source_line": [shapes[row].line if row in shapes else None for row in picked[ROW].to_list()],
                "reason": [reason(value) for value in values],
                "fields": picked["fields"],
            },
            schema_overrides={"source_line": pl.Int64},
        )
        target = self.workdir / f"undated-{self.tag}.parquet"
        quarantined.write_parquet(target, compression="zstd")
        return target

    def _first_bad_rows(self, flagged: pl.LazyFrame, by_day: dict) -> dict[str | None, dict[str, int]]:
        """Per day and column, the first row (1-based, data order) whose value did not convert;
        a second pass over the file, made only when the staging pass counted bad values."""
        import polars as pl

        columns = [
            c
            for c in transforms.flagged_columns(self.spec.schema)
            if any(r[f"bad.{transforms.FLAG_PREFIX}{c}"] for r in by_day.values())
        ]
        if not columns:
            return {}
        flags = [pl.col(transforms.FLAG_PREFIX + column) for column in columns]
        day_key = pl.col(transforms.PARTITION_COLUMN).cast(pl.String).alias(quality.DAY)
        first = (
            flagged.with_row_index(ROW, offset=1)
            .filter(pl.any_horizontal(flags))
            .group_by(day_key)
            .agg(
                [
                    pl.when(flag).then(pl.col(ROW)).min().alias(column)
                    for flag, column in zip(flags, columns, strict=True)
                ]
            )
            .collect(engine="streaming")
        )
        return {row.pop(quality.DAY): row for row in first.iter_rows(named=True)}

    def _short_row_candidates(self, flagged: pl.LazyFrame, days: set) -> dict[str | None, list[int]]:
        """Rows whose last field is empty, by day: the only rows that can be short. Re-read only
        when there are some; the Python CSV pass then counts their fields."""
        import polars as pl

        day_key = pl.col(transforms.PARTITION_COLUMN).cast(pl.String).alias(quality.DAY)
        rows = (
            flagged.with_row_index(ROW, offset=1)
            .filter(pl.col(MAYBE_SHORT))
            .select(day_key, ROW)
            .collect(engine="streaming")
        )
        candidates: dict[str | None, list[int]] = {}
        for day, row in rows.iter_rows():
            if day in days:
                candidates.setdefault(day, []).append(row)
        return candidates

    def _original_values(self, frame: pl.LazyFrame, columns_by_row: dict[int, str]) -> dict[int, str]:
        """The source's own text of each (row, column), quoted and capped, from one re-read."""
        import polars as pl

        if not columns_by_row:
            return {}
        columns = sorted(set(columns_by_row.values()))
        picked = (
            frame.with_row_index(ROW, offset=1)
            .filter(pl.col(ROW).is_in(list(columns_by_row)))
            .select(ROW, *[pl.col(c).cast(pl.String) for c in columns])
            .collect(engine="streaming")
        )
        return {row[ROW]: quote(row[columns_by_row[row[ROW]]]) for row in picked.iter_rows(named=True)}


def stage_source(spec: SourceSpec, fetcher: SourceFetcher, start: date, end: date, workdir: Path) -> StagedSource:
    """Rows of days [start, end), staged and measured per day: one file per day with
    ``url_template``, else one whole file cut by ``date_column``. A file that cannot be fetched or
    read fails the days it holds (a fetch failure is recorded as such, without findings);
    ``SourceUnavailableError`` (worth a retry) propagates."""
    staged = StagedSource()
    days = _days(start, end)
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
        stager = _FileStager(spec, fetched.path, located, workdir, str(index), fetcher.limits())
        files, findings, without_day = stager.stage(batch_days, fixed_day, fetched.size)
        staged.files.update(files)
        staged.findings.update(findings)
        staged.rows_without_day += without_day
        if stager.quarantined is not None:
            staged.quarantined[fetched.sha256] = stager.quarantined
    return staged
