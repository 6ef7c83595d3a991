"""The acceptance commands, run as a user would: validate, list assets, and the README's main job."""

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from odf.definitions import build_definitions

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run_cli(*args, env=None, timeout=300):
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=REPO,
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_definitions_validate_and_asset_list():
    validated = run_cli("dagster", "definitions", "validate", "-w", "workspace.yaml")
    assert validated.returncode == 0, validated.stderr
    # `dagster asset list` takes no -w in Dagster 1.13; it loads a module.
    listed = run_cli("dagster", "asset", "list", "-m", "odf.definitions")
    assert listed.returncode == 0, listed.stderr
    for key in (
        "raw/iowa_liquor_sales",
        "aggregates/iowa_liquor_sales/sales_by_county",
        "sales/cleaned_sales",
        "sales/daily_sales_summary",
        "sales/weekly_sales",
        "analysis/summary",
        "analysis/stats",
    ):
        assert key in listed.stdout


def test_every_data_asset_is_date_partitioned_with_checks():
    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] in ("raw", "aggregates", "sales", "analysis"):
            node = graph.get(key)
            assert isinstance(node.partitions_def, dg.TimeWindowPartitionsDefinition), key
            assert node.description, key
            assert any(check.asset_key == key for check in graph.asset_check_keys), key


@pytest.mark.timeout(600)
def test_readme_main_command_materializes_the_default_pipeline(tmp_path):
    storage = tmp_path / "storage"
    env = {**os.environ, "ODF_STORAGE": str(storage)}
    done = run_cli("odf", "materialize", "--start", "2024-01-01", "--end", "2024-01-07", env=env)
    assert done.returncode == 0, done.stderr
    assert str(storage / "sales" / "weekly_sales" / "week_start=2024-01-01" / "data.parquet") in done.stdout
    days = [(date(2024, 1, 1) + timedelta(d)).isoformat() for d in range(7)]
    for asset in (
        "raw/iowa_liquor_sales",
        "sales/cleaned_sales",
        "sales/enriched_daily_summary",
        "analysis/summary",
        "analysis/stats",
    ):
        assert sorted(p.parent.name for p in (storage / asset).glob("date=*/data.parquet")) == [
            f"date={d}" for d in days
        ]
    daily = pl.read_parquet(storage / "sales/enriched_daily_summary/date=*/data.parquet")
    weekly = pl.read_parquet(storage / "sales/weekly_sales/week_start=2024-01-01/data.parquet")
    assert weekly["revenue"].item() == pytest.approx(daily["revenue"].sum())
    summary = pl.read_parquet(storage / "analysis/summary/date=2024-01-02/data.parquet")
    cleaned = pl.read_parquet(storage / "sales/cleaned_sales/date=2024-01-02/data.parquet")
    assert summary["total"].sum() == pytest.approx(cleaned["sale_dollars"].sum())


def test_main_command_rejects_dates_outside_the_partitions(tmp_path):
    done = run_cli(
        "odf",
        "materialize",
        "--start",
        "2030-01-01",
        "--end",
        "2030-01-02",
        env={**os.environ, "ODF_STORAGE": str(tmp_path)},
    )
    assert done.returncode == 2
    assert (
        "no partitions of daily_pipeline between 2030-01-01 and 2030-01-02 (valid: 2024-01-01..2024-03-31)"
        in done.stderr
    )
    done = run_cli("odf", "materialize", "--start", "01/02/2024", env={**os.environ, "ODF_STORAGE": str(tmp_path)})
    assert done.returncode == 2 and "'01/02/2024' is not a date (expected YYYY-MM-DD)" in done.stderr


def test_a_source_with_its_own_date_range_loads_with_every_job(tmp_path, monkeypatch):
    """Jobs must not mix partitionings: an extra source starting on another day still loads."""
    from tests.support.pipeline import write_registry

    registry = write_registry(
        tmp_path,
        [
            {
                "name": "other_dates",
                "description": "A source with another range.",
                "license": "CC0-1.0",
                "owner": "tests",
                "url_template": "http://127.0.0.1:9/{date}.csv",
                "format": "csv",
                "start_date": "2023-06-15",
                "schema": {"id": "string"},
                "aggregates": [{"name": "rows", "metrics": [{"agg": "count"}]}],
            }
        ],
    )
    monkeypatch.setenv("ODF_SOURCES", str(registry))
    defs = build_definitions()
    for job in defs.jobs:
        resolved = defs.resolve_job_def(job.name)
        assert resolved.name == job.name
    daily = defs.resolve_job_def("daily_pipeline")
    assert dg.AssetKey(["raw", "iowa_liquor_sales"]) in daily.asset_layer.executable_asset_keys
    assert dg.AssetKey(["raw", "other_dates"]) not in daily.asset_layer.executable_asset_keys
    assert daily.tags["odf/queue"] == "acquisition"
    env = {**os.environ, "ODF_SOURCES": str(registry)}
    assert run_cli("dagster", "definitions", "validate", "-w", "workspace.yaml", env=env).returncode == 0


def test_every_job_runs_in_an_odf_queue():
    """The QueuedRunCoordinator limits runs by their odf/queue tag: no job may bypass it."""
    defs = build_definitions()
    queues = {job.name: defs.resolve_job_def(job.name).tags.get("odf/queue") for job in defs.jobs}
    sample_ingest = "ingest_daily_from_20240101_to_20240331"
    assert {"daily_pipeline", "weekly_sales", "iris_predictions_job", sample_ingest} <= set(queues)
    assert set(queues.values()) == {"acquisition", "aggregation"}, queues
