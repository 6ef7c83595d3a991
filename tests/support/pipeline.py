"""Helpers to build registries and run ODF's definitions in-process from tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import polars as pl
import yaml
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG


class _NoAliasDumper(yaml.SafeDumper):
    """Registries refuse YAML aliases, so a mapping used twice in a test is written out twice."""

    def ignore_aliases(self, data) -> bool:
        return True


def shop_source(**fields) -> dict:
    """A registry entry for the test shop's sales: the descriptive keys every source needs, then ``fields``."""
    return {
        "name": "shop_sales",
        "description": "Test shop sales.",
        "license": "CC0-1.0",
        "owner": "ODF tests",
        **fields,
    }


def whole_file_shop_registry(directory: Path, url: str, **fields) -> Path:
    """A registry with one whole-file shop source at ``url``: every day's rows in one CSV, dated by
    ``sold_on``, keyed by ``receipt``. ``fields`` add or override keys (``formats``, ``csv``, ``checks``)."""
    return write_registry(
        directory,
        [
            shop_source(
                url=url,
                date_column="sold_on",
                format="csv",
                start_date="2024-02-01",
                key=["receipt"],
                schema={"receipt": "string", "sold_on": "date", "amount": "float64"},
                **fields,
            )
        ],
    )


def write_registry(directory: Path, sources: list[dict], name: str = "extra_sources.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.dump({"sources": sources}, Dumper=_NoAliasDumper, sort_keys=False))
    return path


def run_assets(
    defs: dg.Definitions,
    keys: Sequence[str | dg.AssetKey],
    *,
    partition_key: str | None = None,
    partition_range: tuple[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = False,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute exactly ``keys`` (with their checks) for one partition or one range, in one run."""
    selection = [dg.AssetKey.from_user_string(k) if isinstance(k, str) else k for k in keys]
    job = dg.define_asset_job("test_run", selection=selection)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("test_run")
    tags = dict(tags or {})
    if partition_range:
        tags |= {ASSET_PARTITION_RANGE_START_TAG: partition_range[0], ASSET_PARTITION_RANGE_END_TAG: partition_range[1]}
    return resolved.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        partition_key=partition_key,
        tags=tags,
        raise_on_error=raise_on_error,
    )


def read_partition(storage_dir: Path, asset: str, partition: str, column: str = "date") -> pl.DataFrame:
    return pl.read_parquet(storage_dir / asset / f"{column}={partition}" / "data.parquet")


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    """All step-failure error text of a run, for asserting on error messages."""
    texts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None:
                texts.append(error.message)
                error = error.cause
    return "\n".join(texts)
