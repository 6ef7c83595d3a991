"""Jobs loadable by module path: a two-asset chain whose steps run in child processes, and a range run a test
SIGKILLs."""

import os
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl

from odf_resources.parquet_io_manager import OdfParquetIOManager

daily = dg.DailyPartitionsDefinition("2024-01-01")


@dg.asset(key=["lt", "numbers"], partitions_def=daily, io_manager_key="io")
def numbers() -> pl.DataFrame:
    """A few numbers."""
    return pl.DataFrame({"n": [1, 2, 3]})


@dg.asset(
    key=["lt", "numbers_total"],
    partitions_def=daily,
    io_manager_key="io",
    ins={"numbers": dg.AssetIn(key=["lt", "numbers"])},
)
def numbers_total(numbers: pl.DataFrame) -> pl.DataFrame:
    """Their sum."""
    return numbers.select(pl.col("n").sum())


def chain_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[numbers, numbers_total],
        jobs=[dg.define_asset_job("lt_chain", selection=[numbers.key, numbers_total.key])],
        resources={"io": OdfParquetIOManager.at(os.environ["ODF_STORAGE"])},
    )
    return defs.resolve_job_def("lt_chain")


@dg.asset(key=["lt", "published_then_killed"], partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run())
def published_then_killed(context: dg.AssetExecutionContext) -> None:
    """Records the first days of its range as published, as odf_assets.publishing does, then waits to be killed."""
    from odf_resources.lineage.metadata import lineage_entry

    *published, _last = context.partition_keys
    for day in published:
        window = daily.time_window_for_partition_key(day)
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key, partition=day, metadata=lineage_entry(["lt/numbers"], window)
            )
        )
    Path(os.environ["ODF_TEST_MARKER"]).write_text("published")
    time.sleep(120)


def killed_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[published_then_killed], jobs=[dg.define_asset_job("lt_killed", selection=[published_then_killed.key])]
    )
    return defs.resolve_job_def("lt_killed")


if __name__ == "__main__":  # python -m tests.lineage.subprocess_defs START END: the run a test SIGKILLs
    instance = dg.DagsterInstance.get()
    tags = {"dagster/asset_partition_range_start": sys.argv[1], "dagster/asset_partition_range_end": sys.argv[2]}
    with dg.execute_job(dg.reconstructable(killed_job), instance=instance, tags=tags) as result:
        print(result.success)
