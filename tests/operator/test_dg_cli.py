"""Dagster's own CLI on the project, as a Dagster user would run it from the checkout: ``dg check
defs``, ``dg list defs`` and ``dg launch --partition`` find ODF through ``[tool.dg]``. (Dagster's
``dg launch --partition-range`` only takes assets with a single-run BackfillPolicy; ODF's run 62
days per run, so ranges go through ``odf materialize`` or a backfill.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")


def dg(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(DG), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_dg_checks_lists_and_launches_the_project(tmp_path):
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
    storage = Path(os.environ["ODF_STORAGE"]) / "raw" / "iowa_liquor_sales"
    assert sorted(path.parent.name for path in storage.glob("date=*/data.parquet")) == ["date=2024-01-02"]
