"""Data contracts: the asset checks each asset declares and their verdicts, one per day.

Each day is judged part by part (``verdicts``: empty partition, schema, malformed rows, duplicate
keys, null rates, value ranges). Dagster records at most two checks per asset and day, each
carrying its parts as metadata (``check_results``): ``data_contract`` (ERROR, blocking: its parts
decide whether the day is published) and ``data_quality`` (WARN: null rates, value ranges, extra
source columns; never blocks). Every check evaluation is a write to the instance's event log, the
main cost of a range run, so parts are not separate checks. Checks are partitioned like their
asset, so a range run records one evaluation per check per day.
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

# The checks Dagster shows.
DATA_CONTRACT = "data_contract"
DATA_QUALITY = "data_quality"

# Their parts (verdicts): every part reports to the contract except these WARN-only measures.
SCHEMA_MATCHES_REGISTRY = "schema_matches_registry"
NON_EMPTY_PARTITION = "non_empty_partition"
ROWS_CONFORM = "rows_conform"
NULL_RATES_WITHIN_LIMITS = "null_rates_within_limits"
KEY_IS_UNIQUE = "key_is_unique"
VALUES_WITHIN_RANGES = "values_within_ranges"

QUALITY_PARTS = frozenset({NULL_RATES_WITHIN_LIMITS, VALUES_WITHIN_RANGES})

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN

_PART_DESCRIPTIONS = {
    NON_EMPTY_PARTITION: "the day has rows",
    SCHEMA_MATCHES_REGISTRY: "columns match the registry, none missing or named twice",
    ROWS_CONFORM: "every row has the header's fields and every value converts to its registry type",
    KEY_IS_UNIQUE: "no two rows of the day share the key",
    NULL_RATES_WITHIN_LIMITS: "null fractions stay under their limits",
    VALUES_WITHIN_RANGES: "numeric values stay within their declared ranges",
}


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


def contract_parts(contract: Contract) -> list[str]:
    """The parts ``verdicts`` judges for ``contract``, in order."""
    parts = [NON_EMPTY_PARTITION]
    if contract.schema is not None:
        parts += [SCHEMA_MATCHES_REGISTRY, ROWS_CONFORM]
    if contract.key:
        parts.append(KEY_IS_UNIQUE)
    if contract.null_limits:
        parts.append(NULL_RATES_WITHIN_LIMITS)
    if contract.ranges:
        parts.append(VALUES_WITHIN_RANGES)
    return parts


def has_quality_check(contract: Contract) -> bool:
    # Extra source columns (schema) warn too, so a raw source always has the WARN check.
    return contract.schema is not None or bool(contract.null_limits) or bool(contract.ranges)


def check_specs(
    asset_key: dg.AssetKey,
    contract: Contract,
    partitions_def: dg.PartitionsDefinition | None,
    more_contract_parts: dict[str, str] | None = None,
) -> list[dg.AssetCheckSpec]:
    """The checks an asset declares: ``data_contract`` always, ``data_quality`` when something can warn.
    ``more_contract_parts`` (name: what it checks) are parts an asset adds to its verdicts."""
    parts = contract_parts(contract)
    described = {**{p: _PART_DESCRIPTIONS[p] for p in parts}, **(more_contract_parts or {})}
    if contract.key:
        described[KEY_IS_UNIQUE] = f"no two rows of the day share ({', '.join(contract.key)})"
    if contract.allow_empty:
        described[NON_EMPTY_PARTITION] = "rows per day (this source declares days without rows: they pass)"
    in_contract = {p: text for p, text in described.items() if p not in QUALITY_PARTS}
    in_quality = {p: text for p, text in described.items() if p in QUALITY_PARTS}
    if contract.schema is not None:
        in_quality["extra_source_columns"] = "columns the registry does not declare"

    def listing(found: dict[str, str]) -> str:
        return "; ".join(f"{part}: {text}" for part, text in found.items())

    specs = [
        dg.AssetCheckSpec(
            DATA_CONTRACT,
            asset=asset_key,
            partitions_def=partitions_def,
            # Blocking: an ERROR result stops downstream steps. ODF's own rule is stricter: a failed
            # day is not even stored (odf_assets.publishing).
            blocking=True,
            description=f"ERROR, per day: a day that fails any part is not published. Parts: {listing(in_contract)}.",
            metadata={"parts": list(in_contract)},
        )
    ]
    if has_quality_check(contract):
        specs.append(
            dg.AssetCheckSpec(
                DATA_QUALITY,
                asset=asset_key,
                partitions_def=partitions_def,
                description=f"WARN, per day, never blocks. Parts: {listing(in_quality)}.",
                metadata={"parts": list(in_quality)},
            )
        )
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


@dataclass(frozen=True)
class CheckResult:
    """One Dagster check's result for one day, made of the day's part verdicts."""

    check: str
    passed: bool
    severity: dg.AssetCheckSeverity
    metadata: dict
    description: str | None


def _parts_metadata(parts: Sequence[Verdict], failed: Sequence[Verdict]) -> dict:
    """Which parts failed and passed, then each part's own metadata under ``<part>.<name>``."""
    metadata: dict = {
        "failed_parts": dg.MetadataValue.json([v.check for v in failed]),
        "passed_parts": dg.MetadataValue.json([v.check for v in parts if v.passed]),
    }
    for verdict in parts:
        metadata.update({f"{verdict.check}.{name}": value for name, value in verdict.metadata.items()})
    return metadata


def _reasons(failed: Sequence[Verdict]) -> str | None:
    """One line per failed part: its evidence, else its non-empty metadata (e.g. the extra columns)."""

    def shown(verdict: Verdict) -> str:
        if verdict.evidence:
            return verdict.evidence
        values = {name: getattr(value, "value", value) for name, value in verdict.metadata.items()}
        return ", ".join(f"{name} {value}" for name, value in values.items() if value) or "failed"

    return "; ".join(f"{v.check}: {shown(v)}" for v in failed) or None


def check_results(day_verdicts: Sequence[Verdict]) -> list[CheckResult]:
    """The day's ``data_contract`` result (failed when a part blocks; always ERROR) and its
    ``data_quality`` result (failed when a WARN-only part fails or a contract part fails at WARN,
    such as extra source columns; always WARN). Assets without ``data_quality`` drop the latter."""
    in_contract = [v for v in day_verdicts if v.check not in QUALITY_PARTS]
    blocking = [v for v in in_contract if v.blocks]
    warned = [v for v in day_verdicts if not v.passed and v.severity == WARN]
    # A contract part that failed at WARN is reported (with its metadata) by the quality check.
    in_quality = [v for v in day_verdicts if v.check in QUALITY_PARTS or v in warned]
    return [
        CheckResult(DATA_CONTRACT, not blocking, ERROR, _parts_metadata(in_contract, blocking), _reasons(blocking)),
        CheckResult(DATA_QUALITY, not warned, WARN, _parts_metadata(in_quality, warned), _reasons(warned)),
    ]


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
