"""Publish only what passed: a day whose ERROR checks fail keeps its previous object byte for byte.

Assets compute their rows and per-day verdicts, then hand both here:

* every day passed: the rows go out as the asset's ``Output`` through the IO manager, as usual;
* some days failed: the days that passed are published directly to storage and recorded as
  materializations of their partitions, the failed days are left untouched, every check result is
  recorded per day, and the step fails naming each failed day, its checks and the evidence.
  Dagster records one materialization per partition of an ``Output``, so a partly good range
  cannot go through the IO manager.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from odf_assets import checks
from odf_assets.partitions import RANGE_WINDOW_PARTITIONS
from odf_resources.lineage.metadata import lineage_entry
from odf_resources.parquet_io_manager import StagedPartitions, partition_column, publish_staged, stage_partitions
from odf_resources.storage import Storage

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

# How many failed days the run's error message lists before summarising the rest.
_DAYS_IN_MESSAGE = 10


def _selected_check_outputs(context: dg.AssetExecutionContext) -> list[str]:
    """Output names of the checks selected in this run: each needs an ``Output`` to count as run."""
    return [
        context.assets_def.get_output_name_for_asset_check_key(key) for key in sorted(context.selected_asset_check_keys)
    ]


def check_evaluations(
    asset_key: dg.AssetKey, verdicts: dict[str, list[checks.Verdict]], selected: set[str]
) -> Iterator[dg.AssetCheckEvaluation]:
    """The day's part verdicts as Dagster's checks (``checks.check_results``), one result per check and day."""
    for day, day_verdicts in verdicts.items():
        for result in checks.check_results(day_verdicts):
            if result.check in selected:
                yield dg.AssetCheckEvaluation(
                    asset_key=asset_key,
                    check_name=result.check,
                    passed=result.passed,
                    severity=result.severity,
                    metadata=result.metadata,
                    partition=day,
                    description=result.description,
                    blocking=result.severity == checks.ERROR,
                )


def _clip(text: str, limit: int = 1000) -> str:
    """Evidence quotes values already capped; this bounds how many problems one line carries."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _day_spans(days: list[str]) -> str:
    """Consecutive days as ranges: 2024-01-01..2024-01-03, 2024-01-06."""
    spans: list[list[date]] = []
    for day in sorted(date.fromisoformat(d) for d in days):
        if spans and (day - spans[-1][-1]).days == 1:
            spans[-1].append(day)
        else:
            spans.append([day])
    return ", ".join(f"{s[0]}..{s[-1]}" if len(s) > 1 else str(s[0]) for s in spans)


def failure_description(
    asset: str,
    failed: dict[str, list[checks.Verdict]],
    published: list[str],
    fetch_failures: dict[str, str] | None = None,
) -> str:
    lines = []
    if fetch_failures:
        # The cause first: the first line is what `odf status` and the UI show.
        first = next(iter(fetch_failures.values()))
        lines.append(f"{asset}: fetch failed: {_clip(first, 500)} (day(s) {_day_spans(list(fetch_failures))})")
        lines.append(f"{len(fetch_failures)} day(s) not fetched kept their previous data:")
        for day, reason in list(fetch_failures.items())[:_DAYS_IN_MESSAGE]:
            lines.append(f"  {day}: fetch failed: {_clip(reason)}")
        if len(fetch_failures) > _DAYS_IN_MESSAGE:
            lines.append(f"  … and {len(fetch_failures) - _DAYS_IN_MESSAGE} more day(s)")
    if failed or not fetch_failures:
        lines.append(f"{asset}: {len(failed)} day(s) failed ERROR checks and kept their previous data:")
    for day, verdicts in list(failed.items())[:_DAYS_IN_MESSAGE]:
        reasons = "; ".join(f"{v.check}: {_clip(v.evidence) if v.evidence else 'failed'}" for v in verdicts)
        lines.append(f"  {day}: {reasons}")
    if len(failed) > _DAYS_IN_MESSAGE:
        lines.append(f"  … and {len(failed) - _DAYS_IN_MESSAGE} more day(s)")
    lines.append(
        f"Published {len(published)} day(s) that passed" + (f": {_day_spans(published)}" if published else ".")
    )
    return "\n".join(lines)


def publish_checked(
    context: dg.AssetExecutionContext,
    *,
    verdicts: dict[str, list[checks.Verdict]],
    value: object,
    stage_days: Callable[[list[str], Path], dict[str, Path]],
    storage: Storage,
    data_version: str | None = None,
    metadata: dict | None = None,
    fetch_failures: dict[str, str] | None = None,
) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
    """Yield the asset's output and per-day check evaluations, or publish the passing days alone
    and fail. ``stage_days(days, directory)`` returns finished Parquet files for those days.
    Days in ``fetch_failures`` have no data and no verdicts: they fail as fetch failures."""
    asset_key = context.asset_key
    selected = {key.name for key in context.selected_asset_check_keys}
    failed = {day: [v for v in vs if v.blocks] for day, vs in verdicts.items() if any(v.blocks for v in vs)}
    if not failed and not fetch_failures:
        version = dg.DataVersion(data_version) if data_version else None
        yield dg.Output(value, data_version=version, metadata=metadata or {})
        yield from check_evaluations(asset_key, verdicts, selected)
        for output_name in _selected_check_outputs(context):
            yield dg.Output(None, output_name=output_name)
        return
    passed = [day for day in verdicts if day not in failed]
    if passed:
        column = partition_column(context.assets_def.metadata_by_key.get(asset_key))
        with storage.staging_area() as directory:
            written = publish_staged(storage, asset_key.path, column, stage_days(passed, Path(directory)))
        inputs = sorted(key.to_user_string() for key in context.assets_def.asset_deps.get(asset_key, ()))
        tags = {"dagster/data_version": data_version} if data_version else None
        for day in passed:
            window = context.assets_def.partitions_def.time_window_for_partition_key(day)
            entry = {**written[day], **(metadata or {}), **lineage_entry(inputs, window)}
            context.log_event(dg.AssetMaterialization(asset_key=asset_key, partition=day, metadata=entry, tags=tags))
    for evaluation in check_evaluations(asset_key, verdicts, selected):
        context.log_event(evaluation)
    description = failure_description(asset_key.to_user_string(), failed, passed, fetch_failures)
    raise dg.Failure(
        description=description,
        metadata={
            "failed_days": dg.MetadataValue.json(sorted({*failed, *(fetch_failures or {})})),
            "published_days": dg.MetadataValue.json(passed),
        },
        # The same rows would fail the same checks again: a retry only delays the alert.
        allow_retries=False,
    )


def emit_checked(
    context: dg.AssetExecutionContext, frame: pl.LazyFrame | pl.DataFrame, contract: checks.Contract, storage: Storage
) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
    """A derived asset's rows, checked per day and published by ``publish_checked``.

    A range longer than ``RANGE_WINDOW_PARTITIONS`` is collected, checked and staged one window of
    partitions at a time (``range_windows``), so one run takes any range in bounded memory."""
    column = partition_column(context.assets_def.metadata_by_key.get(context.asset_key))
    keys = list(context.partition_keys)
    if len(keys) > RANGE_WINDOW_PARTITIONS:
        yield from _emit_checked_in_windows(context, frame.lazy(), column, keys, contract, storage)
        return
    result = frame.lazy().collect(engine="streaming")
    verdicts = checks.verdicts_by_day(result, column, keys, contract)
    asset = context.asset_key.to_user_string()

    def stage_days(days: list[str], directory: Path) -> dict[str, Path]:
        import polars as pl

        rows = result.filter(pl.col(column).cast(pl.String).is_in(days))
        return stage_partitions(rows, column, days, directory, asset)

    yield from publish_checked(context, verdicts=verdicts, value=result, stage_days=stage_days, storage=storage)


def range_windows(frame: pl.LazyFrame, column: str, keys: Sequence[str], size: int) -> Iterator[tuple[list, object]]:
    """``keys`` (sorted partition keys) in windows of ``size``, each with the rows of its window.

    The rows are ``frame`` filtered on its partition column, a filter Polars pushes down through the
    day-local transforms (``over(date)``, ``group_by(date)``) to the Parquet scan, so a window reads
    and holds only its own days. The first window is open below (and keeps null keys), the last open
    above: rows outside the range still reach ``stage_partitions``, which refuses them."""
    import polars as pl

    dtype = frame.collect_schema().get(column)
    value = pl.col(column) if dtype == pl.Date else pl.col(column).cast(pl.String)

    def bound(key: str):
        return date.fromisoformat(key) if dtype == pl.Date else key

    starts = range(0, len(keys), size)
    for index, start in enumerate(starts):
        window = list(keys[start : start + size])
        predicate = pl.lit(True)
        if index > 0:
            predicate = predicate & (value >= bound(window[0]))
        if index < len(starts) - 1:
            predicate = predicate & (value <= bound(window[-1]))
        if index == 0:
            predicate = predicate | value.is_null()
        yield window, frame.filter(predicate)


def _emit_checked_in_windows(
    context: dg.AssetExecutionContext,
    frame: pl.LazyFrame,
    column: str,
    keys: list[str],
    contract: checks.Contract,
    storage: Storage,
) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
    """``emit_checked`` one window at a time: every day checked and staged as a finished file, then
    published together (or, when days failed, the passing days alone) by ``publish_checked``."""
    asset = context.asset_key.to_user_string()
    verdicts: dict[str, list[checks.Verdict]] = {}
    staged: dict[str, Path] = {}
    with storage.staging_area() as directory:
        for index, (window, rows) in enumerate(range_windows(frame, column, keys, RANGE_WINDOW_PARTITIONS)):
            result = rows.collect(engine="streaming")
            verdicts.update(checks.verdicts_by_day(result, column, window, contract))
            staged.update(stage_partitions(result, column, window, Path(directory) / f"window-{index}", asset))
            del result  # the window's rows are on disk now
        yield from publish_checked(
            context,
            verdicts=verdicts,
            value=StagedPartitions(staged),
            stage_days=lambda days, _directory: {day: staged[day] for day in days},
            storage=storage,
        )


def emit_unique_by(
    context: dg.AssetExecutionContext, frame: pl.LazyFrame, unique_by: Sequence[str], storage: Storage
) -> Iterator[dg.Output | dg.AssetCheckEvaluation]:
    """``emit_checked`` for a derived asset whose only contract is a key: its rows are unique by ``unique_by``."""
    yield from emit_checked(context, frame, checks.Contract(key=tuple(unique_by)), storage)
