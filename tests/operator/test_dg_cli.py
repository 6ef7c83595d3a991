"""Dagster's own CLI on the project, as a Dagster user would run it from the checkout: ``dg check
defs``, ``dg list defs``, ``dg launch --partition`` and ``dg launch --partition-range`` find ODF
through ``[tool.dg]``. Dagster takes a range in one CLI run only from assets with
``BackfillPolicy.single_run()``, which ODF's have: they bound their memory by computing a long range
a window of days at a time (``odf_assets.publishing.emit_checked``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")


def dg_instance(home: Path) -> dagster.DagsterInstance:
    return dagster.DagsterInstance.from_config(str(home))


def dg(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(DG), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_dg_checks_lists_and_launches_days_and_ranges_of_the_project(tmp_path):
    # As `uv run dg …`: the project's virtual environment is the active one.
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parents[1])}
    checked = dg("check", "defs", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    listed = dg("list", "defs", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assets = {asset["asset_key"]: asset for asset in json.loads(listed.stdout)["assets"]}
    assert {"raw/iowa_liquor_sales", "sales/cleaned_sales", "predictions/iris_model"} <= set(assets)
    assert all(asset["owners"] == [{"team": "data-platform"}] for asset in assets.values())

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    launched = dg(
        "launch",
        "--assets",
        "raw/iowa_liquor_sales",
        "--partition",
        "2024-01-02",
        env={**env, "DAGSTER_HOME": str(home)},
    )
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-2000:]
    storage = Path(os.environ["ODF_STORAGE"])
    raw = storage / "raw" / "iowa_liquor_sales"
    assert sorted(path.parent.name for path in raw.glob("date=*/data.parquet")) == ["date=2024-01-02"]

    # 70 days: more than one window (RANGE_WINDOW_PARTITIONS) of the aggregate, in one run.
    days = [(date(2024, 1, 1) + timedelta(days=offset)).isoformat() for offset in range(70)]
    aggregate = "aggregates/iowa_liquor_sales/sales_by_county"
    ranged = dg(
        "launch",
        "--assets",
        f"raw/iowa_liquor_sales,{aggregate}",
        "--partition-range",
        f"{days[0]}...{days[-1]}",
        env={**env, "DAGSTER_HOME": str(home)},
    )
    assert ranged.returncode == 0, ranged.stdout[-2000:] + ranged.stderr[-2000:]
    for asset in (raw, storage / aggregate):
        assert sorted(path.parent.name for path in asset.glob("date=*/data.parquet")) == [f"date={d}" for d in days]
    with dg_instance(home) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2, [run.tags for run in runs]  # the single day, then the whole range in one run
        assert runs[0].tags["dagster/asset_partition_range_start"] == days[0]
        assert runs[0].tags["dagster/asset_partition_range_end"] == days[-1]
        materialized = instance.get_materialized_partitions(dagster.AssetKey(aggregate.split("/")))
        assert materialized == set(days)
