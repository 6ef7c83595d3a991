"""Data contracts: the asset checks each asset declares and their verdicts, one per day.

ERROR checks decide whether a day is published (empty partition, schema, malformed rows,
duplicate keys); WARN checks (null rates, value ranges) are reported and never block. Checks are
partitioned like their asset, so a range run records one evaluation per check per day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dagster as dg

from odf_assets import quality
from odf_assets.sources.registry import RangeSpec

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

SCHEMA_MATCHES_REGISTRY = "schema_matches_registry"
NON_EMPTY_PARTITION = "non_empty_partition"
ROWS_CONFORM = "rows_conform"
NULL_RATES_WITHIN_LIMITS = "null_rates_within_limits"
KEY_IS_UNIQUE = "key_is_unique"
VALUES_WITHIN_RANGES = "values_within_ranges"

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


@dataclass(frozen=True)
class Contract:
    """What one asset promises per partition; ``schema`` (registry types) only for raw sources."""

    key: tuple[str, ...] = ()
    schema: dict[str, str] | None = None
    null_limits: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, RangeSpec] = field(default_factory=dict)
    # An empty day is published (WARN) instead of blocking (ERROR): sources with gaps by nature.
    allow_empty: bool = False


@dataclass(frozen=True)
class Verdict:
    check: str
    passed: bool
    severity: dg.AssetCheckSeverity
    metadata: dict
    # One line saying what failed, for the run's error message (empty when passed).
    evidence: str = ""

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == ERROR


def check_specs(
    asset_key: dg.AssetKey, contract: Contract, partitions_def: dg.PartitionsDefinition | None
) -> list[dg.AssetCheckSpec]:
    """The specs an asset declares; every asset gets the non-empty check."""

    def spec(name: str, description: str) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(name, asset=asset_key, description=description, partitions_def=partitions_def)

    if contract.allow_empty:
        specs = [spec(NON_EMPTY_PARTITION, "Rows per partition (this source declares days without rows: they pass).")]
    else:
        specs = [spec(NON_EMPTY_PARTITION, "Every partition has rows; an empty day is not published.")]
    if contract.schema is not None:
        specs.append(
            spec(
                SCHEMA_MATCHES_REGISTRY,
                "Columns match the registry: none missing or named twice (extra columns: WARN).",
            )
        )
        specs.append(
            spec(ROWS_CONFORM, "Every row has the header's fields and every value converts to its registry type.")
        )
    if contract.key:
        specs.append(spec(KEY_IS_UNIQUE, f"No two rows of a partition share ({', '.join(contract.key)})."))
    if contract.null_limits:
        specs.append(spec(NULL_RATES_WITHIN_LIMITS, "Null fractions stay under their limits (WARN)."))
    if contract.ranges:
        specs.append(spec(VALUES_WITHIN_RANGES, "Numeric values stay within their declared ranges (WARN)."))
    return specs


def measures(contract: Contract, keys_in_pass: bool = True) -> list[pl.Expr]:
    """The per-day measures ``verdicts`` needs, for ``quality.measure_by_day`` or a staging pass."""
    return quality.day_measures(contract.key, list(contract.null_limits), contract.ranges, keys_in_pass)


@dataclass(frozen=True)
class DayFindings:
    """What is known about one day before its verdicts: measures and problems found while reading."""

    measured: dict | None = None
    # Missing or repeated columns, unreadable file: the whole file, so every day it covers.
    schema_problems: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    # Values that did not convert, rows with missing fields; each names line, column and value.
    row_problems: tuple[str, ...] = ()
    dtypes: pl.Schema | None = None


def verdicts(findings: DayFindings, contract: Contract) -> list[Verdict]:
    """One verdict per declared check for one day."""
    measured = findings.measured or {}
    rows = int(measured.get("rows", 0) or 0)
    results = [
        # A source that declares days without rows gets them published and passed, not warned about daily.
        Verdict(
            NON_EMPTY_PARTITION,
            rows > 0 or contract.allow_empty,
            WARN if contract.allow_empty else ERROR,
            {"row_count": rows, "empty_days_allowed": contract.allow_empty},
            "" if rows else "no rows for this day",
        )
    ]
    if contract.schema is not None:
        problems = list(findings.schema_problems)
        if findings.dtypes is not None:
            problems += quality.schema_mismatches(findings.dtypes, contract.schema)
        results.append(
            Verdict(
                SCHEMA_MATCHES_REGISTRY,
                not problems and not findings.extra_columns,
                ERROR if problems else WARN,
                {
                    "problems": dg.MetadataValue.json(problems),
                    "extra_source_columns": dg.MetadataValue.json(list(findings.extra_columns)),
                },
                "; ".join(problems),
            )
        )
        row_problems = list(findings.row_problems)
        results.append(
            Verdict(
                ROWS_CONFORM,
                not row_problems,
                ERROR,
                {"problems": dg.MetadataValue.json(row_problems)},
                "; ".join(row_problems),
            )
        )
    if contract.key:
        distinct = measured.get("distinct_keys")
        duplicates = rows - int(distinct) if rows and distinct is not None else 0
        evidence = f"{duplicates} row(s) repeat a ({', '.join(contract.key)}) key" if duplicates else ""
        results.append(Verdict(KEY_IS_UNIQUE, duplicates == 0, ERROR, {"duplicate_rows": duplicates}, evidence))
    if contract.null_limits:
        fractions = {c: (measured.get(f"nulls.{c}", 0) / rows if rows else 0.0) for c in contract.null_limits}
        over = {c: round(f, 4) for c, f in fractions.items() if f > contract.null_limits[c]}
        results.append(
            Verdict(
                NULL_RATES_WITHIN_LIMITS,
                not over,
                WARN,
                {
                    "null_fractions": dg.MetadataValue.json({c: round(f, 4) for c, f in fractions.items()}),
                    "over_limit": dg.MetadataValue.json(over),
                },
            )
        )
    if contract.ranges:
        outside = {c: measured.get(f"outside.{c}", 0) for c in contract.ranges if measured.get(f"outside.{c}", 0)}
        results.append(
            Verdict(VALUES_WITHIN_RANGES, not outside, WARN, {"rows_outside": dg.MetadataValue.json(outside)})
        )
    return results


def verdicts_by_day(
    frame: pl.DataFrame | pl.LazyFrame, partition_column: str, days: Sequence[str], contract: Contract
) -> dict[str, list[Verdict]]:
    """Verdicts for every day of ``days`` from a frame holding their rows (derived assets)."""
    import polars as pl

    rows = quality.row_total(frame)
    keys_in_pass = rows <= quality.KEYS_PER_PASS
    measured = quality.measure_by_day(frame, partition_column, measures(contract, keys_in_pass))
    if contract.key and not keys_in_pass:
        for day, values in measured.items():
            one_day = frame.lazy().filter(pl.col(partition_column).cast(pl.String) == day)
            values["distinct_keys"] = quality.distinct_keys_in_passes(one_day, contract.key, values["rows"])
    # Derived assets have no registry schema, so no column types to compare.
    return {day: verdicts(DayFindings(measured.get(day)), contract) for day in days}
