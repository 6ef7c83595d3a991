"""What is wrong with a staged file's rows, told so a person can find and fix them: each bad value
with its line, column and the source's own text, rows with too few or too many fields, and the
rows whose day cannot be read, kept aside in a quarantine file. Everything here re-reads the source
only when the staging pass counted a problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets import quality
from odf_assets.sources import transforms
from odf_assets.sources.csv_rows import CsvDialect, RowShape, csv_row_shapes
from odf_assets.sources.registry import SourceSpec
from odf_core.text import quote

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

ROW = transforms.ROW_NUMBER
MAYBE_SHORT = "__odf_maybe_short"
# The row number of a row with more fields than the header (null for every other row).
LONG_ROW = "__odf_long_row"
# Rows whose day cannot be read are kept aside (quarantined) up to this many per file; past it they are counted.
QUARANTINE_MAX_ROWS = 100_000


def _position(fmt: str, row: int, line: int | None) -> str:
    if fmt == "csv":
        return f"line {line}" if line else f"data row {row}"
    return f"line {row}" if fmt == "jsonl" else f"record {row}"


@dataclass
class RowReporter:
    """Reports on the rows of one staged file (``path``, as the reader scanned it)."""

    spec: SourceSpec
    label: str
    path: Path
    dialect: CsvDialect
    # Rows with more fields than the header, by 1-based data row (CSV only; empty otherwise).
    long_rows: dict[int, RowShape] = field(default_factory=dict)

    def problems(
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

    def quarantine(self, frame: pl.LazyFrame, flagged: pl.LazyFrame, target: Path) -> Path:
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
