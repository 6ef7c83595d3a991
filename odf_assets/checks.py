"""Asset-check specs and results built from the pure measures in ``odf_assets.quality``.

ERROR for broken contracts (wrong schema, empty partition, duplicate keys); WARN for soft
expectations (null rates, value ranges) that deserve a look but not a red run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import dagster as dg
import polars as pl

from odf_assets import quality
from odf_assets.sources.registry import RangeSpec

SCHEMA_MATCHES_REGISTRY = "schema_matches_registry"
NON_EMPTY_PARTITION = "non_empty_partition"
NULL_RATES_WITHIN_LIMITS = "null_rates_within_limits"
KEY_IS_UNIQUE = "key_is_unique"
VALUES_WITHIN_RANGES = "values_within_ranges"


def check_specs(
    asset_key: dg.AssetKey,
    *,
    schema: bool = False,
    key: Sequence[str] = (),
    null_limits: bool = False,
    ranges: bool = False,
) -> list[dg.AssetCheckSpec]:
    """The specs an asset declares; every asset gets the non-empty check."""
    specs = [dg.AssetCheckSpec(NON_EMPTY_PARTITION, asset=asset_key, description="Every partition has rows.")]
    if schema:
        specs.append(dg.AssetCheckSpec(SCHEMA_MATCHES_REGISTRY, asset=asset_key, description="Columns and types match the registry."))
    if key:
        specs.append(dg.AssetCheckSpec(KEY_IS_UNIQUE, asset=asset_key, description=f"No two rows share ({', '.join(key)})."))
    if null_limits:
        specs.append(dg.AssetCheckSpec(NULL_RATES_WITHIN_LIMITS, asset=asset_key, description="Null fractions stay under their limits."))
    if ranges:
        specs.append(dg.AssetCheckSpec(VALUES_WITHIN_RANGES, asset=asset_key, description="Numeric values stay within their declared ranges."))
    return specs


def _result(name: str, passed: bool, severity: dg.AssetCheckSeverity, **metadata) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, passed=bool(passed), severity=severity, metadata=metadata)


def check_results(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    expected_schema: dict[str, str] | None = None,
    extra_columns: Sequence[str] = (),
    key: Sequence[str] = (),
    null_limits: dict[str, float] | None = None,
    ranges: dict[str, RangeSpec] | None = None,
) -> Iterator[dg.AssetCheckResult]:
    """Results matching ``check_specs`` called with the same options, from one pass over ``frame``."""
    null_limits, ranges = null_limits or {}, ranges or {}
    # Keys are counted in the one pass unless there are too many to hold at once.
    keys_apart = bool(key) and quality.row_total(frame) > quality.KEYS_PER_PASS
    expressions = [quality.row_count(), *quality.null_counts(list(null_limits))]
    expressions += [quality.out_of_range(c, r.min, r.max) for c, r in ranges.items()]
    if key and not keys_apart:
        expressions.append(quality.distinct_keys(key))
    measured = quality.measure(frame, expressions)
    rows = measured["rows"]
    if keys_apart:
        measured["distinct_keys"] = quality.distinct_keys_in_passes(frame, key, rows)
    yield _result(NON_EMPTY_PARTITION, rows > 0, dg.AssetCheckSeverity.ERROR, row_count=rows)
    if expected_schema is not None:
        problems = quality.schema_mismatches(frame.lazy().collect_schema(), expected_schema)
        # Extra source columns are dropped, not fatal: flag them so the registry can catch up.
        severity = dg.AssetCheckSeverity.ERROR if problems else dg.AssetCheckSeverity.WARN
        yield _result(
            SCHEMA_MATCHES_REGISTRY, not problems and not extra_columns, severity,
            problems=dg.MetadataValue.json(problems), extra_source_columns=dg.MetadataValue.json(list(extra_columns)),
        )  # fmt: skip
    if key:
        duplicates = rows - measured["distinct_keys"] if rows else 0
        yield _result(KEY_IS_UNIQUE, duplicates == 0, dg.AssetCheckSeverity.ERROR, duplicate_rows=duplicates)
    if null_limits:
        fractions = {c: (measured[f"nulls.{c}"] / rows if rows else 0.0) for c in null_limits}
        over = {c: round(f, 4) for c, f in fractions.items() if f > null_limits[c]}
        yield _result(
            NULL_RATES_WITHIN_LIMITS, not over, dg.AssetCheckSeverity.WARN,
            null_fractions=dg.MetadataValue.json({c: round(f, 4) for c, f in fractions.items()}),
            over_limit=dg.MetadataValue.json(over),
        )  # fmt: skip
    if ranges:
        outside = {c: measured[f"outside.{c}"] for c in ranges if measured[f"outside.{c}"]}
        yield _result(VALUES_WITHIN_RANGES, not outside, dg.AssetCheckSeverity.WARN, rows_outside=dg.MetadataValue.json(outside))
