"""Each registry consolidation becomes a daily asset over its inputs' raw assets.

Inputs are read straight from storage, day by day, so a day that one input lacks (no stored
partition, or one without rows: a whole-file source stores its empty days) is known by name: that
day fails ``inputs_present``, a part of its ERROR check ``data_contract``, and keeps its previous
object, while the other days of the run are published, as ``publishing.publish_checked`` does for
every asset. An input whose source declares days without rows (``allow_empty_days``, e.g. no prices
on weekends) is not missing on such a day: it contributes no rows, and the day is published (empty
for a join).
"""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from odf_assets import checks
from odf_assets.automation import FOLLOW_EVERY_INPUT_UPDATE
from odf_assets.derived import derived_asset_options
from odf_assets.partitions import RANGE_WINDOW_PARTITIONS, daily_partitions
from odf_assets.publishing import publish_checked
from odf_assets.sources import transforms
from odf_assets.sources.consolidations import ConsolidationSpec, combine_inputs
from odf_resources.parquet_io_manager import object_key, stage_partitions
from odf_resources.storage import Storage
from odf_resources.storage_resource import OdfStorage

# Annotations naming polars are quoted: without ``from __future__ import annotations`` here, Dagster
# reads the asset functions' context and config annotations as the classes they name.
if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

INPUTS_PRESENT = "inputs_present"
DATE = transforms.PARTITION_COLUMN


def consolidation_asset_key(spec: ConsolidationSpec) -> dg.AssetKey:
    return dg.AssetKey(["consolidations", spec.name])


def read_inputs(
    storage: Storage, spec: ConsolidationSpec, days: list[str]
) -> "tuple[dict[str, pl.LazyFrame], dict[str, list[str]]]":
    """Each input's stored raw rows for ``days`` and, per day, what each lacking input lacks.
    An input allowed empty days whose stored days all lack rows gives an empty frame, not None."""
    import polars as pl

    frames, missing = {}, {day: [] for day in days}
    for input_spec in spec.inputs:
        path = ["raw", input_spec.source]
        uris, empty = [], []
        for day in days:
            key = object_key(path, DATE, day)
            if not storage.exists(key):
                missing[day].append(f"no partition of {'/'.join(path)}")
            elif pl.scan_parquet(storage.scan_uri(key)).select(pl.len()).collect().item() == 0:  # footer only
                if input_spec.allow_empty_days:
                    empty.append(storage.scan_uri(key))  # a day without rows by contract
                else:
                    missing[day].append(f"no rows in {'/'.join(path)}")
            else:
                uris.append(storage.scan_uri(key))
        # A day's objects may differ in nullability: relax like the IO manager does.
        scanned = uris or empty[:1]
        frames[input_spec.source] = (
            pl.concat([pl.scan_parquet(uri) for uri in scanned], how="diagonal_relaxed") if scanned else None
        )
    return frames, missing


def inputs_verdict(missing: list[str]) -> checks.Verdict:
    evidence = f"{'; '.join(missing)} for this day" if missing else ""
    return checks.Verdict(
        INPUTS_PRESENT, not missing, checks.ERROR, {"missing_inputs": dg.MetadataValue.json(missing)}, evidence
    )


def build_consolidation_asset(spec: ConsolidationSpec) -> dg.AssetsDefinition:
    key = consolidation_asset_key(spec)
    aggregate = spec.aggregate
    # A join is empty on a day an input has no rows by contract: the empty day is published, not failed.
    contract = checks.Contract(
        key=(DATE, *aggregate.group_by), allow_empty=any(i.allow_empty_days for i in spec.inputs)
    )
    metrics = [(m.agg, m.column, m.name) for m in aggregate.metrics]
    partitions_def = daily_partitions(spec.start_date, spec.end_date)
    inputs = [raw_asset_key_for(i.source) for i in spec.inputs]
    check_specs = checks.check_specs(
        key, contract, partitions_def, {INPUTS_PRESENT: "every input has a stored partition for the day"}
    )
    combined = f"{spec.combine} of {', '.join(i.source for i in spec.inputs)} on date" + "".join(
        f", {c}" for c in spec.keys
    )

    @dg.asset(
        key=key,
        description=(aggregate.description or f"Daily {', '.join(m.name for m in aggregate.metrics)}")
        + f" ({combined}).",
        group_name=spec.group,
        deps=inputs,
        **derived_asset_options(partitions_def),
        metadata={
            "partition_expr": DATE,
            "combine": spec.combine,
            "keys": list(spec.keys),
            "group_by": list(aggregate.group_by),
            "registry_file": str(spec.registry_file),
        },
        check_specs=check_specs,
        automation_condition=FOLLOW_EVERY_INPUT_UPDATE,
    )
    def consolidation(context: dg.AssetExecutionContext, odf_storage: OdfStorage):
        import polars as pl

        storage = odf_storage.get()
        days = list(context.partition_keys)
        # A long range is joined and aggregated a window of days at a time: memory follows the
        # window (the join holds its inputs' rows), the aggregated rows of all windows are few.
        results, missing = [], {}
        for start in range(0, len(days), RANGE_WINDOW_PARTITIONS):
            window = days[start : start + RANGE_WINDOW_PARTITIONS]
            frames, window_missing = read_inputs(storage, spec, window)
            missing.update(window_missing)
            if all(frame is not None for frame in frames.values()):
                combined = combine_inputs(spec, frames)
                results.append(transforms.aggregate(combined, aggregate.group_by, metrics).collect(engine="streaming"))
        if not results:
            result = pl.DataFrame(schema=_empty_schema(spec))
        else:
            result = results[0] if len(results) == 1 else pl.concat(results, how="diagonal_relaxed")
        verdicts = checks.verdicts_by_day(result, DATE, days, contract)
        for day in days:  # first: it explains the others (no rows) on a day an input lacks
            verdicts[day].insert(0, inputs_verdict(missing[day]))

        def stage_days(selected: list[str], directory: Path) -> dict[str, Path]:
            rows = result.filter(pl.col(DATE).cast(pl.String).is_in(selected))
            return stage_partitions(rows, DATE, selected, directory, key.to_user_string())

        yield from publish_checked(context, verdicts=verdicts, value=result, stage_days=stage_days, storage=storage)

    return consolidation


def raw_asset_key_for(source_name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source_name])


def _empty_schema(spec: ConsolidationSpec) -> "dict[str, pl.DataType]":
    """Columns of a run where some input has no day at all: every day fails, nothing is written."""
    import polars as pl

    return {DATE: pl.Date, **{column: pl.String for column in spec.aggregate.group_by}}


def build_consolidation_assets(specs: list[ConsolidationSpec]) -> list[dg.AssetsDefinition]:
    return [build_consolidation_asset(spec) for spec in specs]
