"""A two-asset chain loadable by module path, for runs whose steps execute in child processes."""

import os

import dagster as dg
import polars as pl

from odf_resources.parquet_io_manager import PolarsParquetIOManager

daily = dg.DailyPartitionsDefinition("2024-01-01")


@dg.asset(key=["lt", "numbers"], partitions_def=daily, io_manager_key="io")
def numbers() -> pl.DataFrame:
    """A few numbers."""
    return pl.DataFrame({"n": [1, 2, 3]})


@dg.asset(key=["lt", "numbers_total"], partitions_def=daily, io_manager_key="io", ins={"numbers": dg.AssetIn(key=["lt", "numbers"])})
def numbers_total(numbers: pl.DataFrame) -> pl.DataFrame:
    """Their sum."""
    return numbers.select(pl.col("n").sum())


def chain_job() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[numbers, numbers_total],
        jobs=[dg.define_asset_job("lt_chain", selection=[numbers.key, numbers_total.key])],
        resources={"io": PolarsParquetIOManager(base=os.environ["ODF_STORAGE"])},
    )
    return defs.resolve_job_def("lt_chain")
