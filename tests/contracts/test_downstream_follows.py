"""A range where one day fails: `odf materialize` still builds the downstream of the days that
were published, in the same command, and its summary names every skipped asset × day."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.operator.cli_support import cli_env, odf, serve_days

REPO = Path(__file__).resolve().parents[2]
AGGREGATE = "aggregates/city_permits/permits_by_district"


def test_the_downstream_of_published_days_is_materialized_by_the_same_command(tmp_path, source_server):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    days = ["2024-02-01", "2024-02-02", "2024-02-03"]
    serve_days(source_server.root, days, duplicate_on="2024-02-02")
    env = cli_env(tmp_path, source_server.url)
    done = odf(tmp_path, env, "materialize", "--select", "group:permits", "--start", days[0], "--end", days[-1])
    assert done.returncode == 1, done.stdout + done.stderr
    storage = tmp_path / ".odf" / "storage"
    stored = {day for day in days if (storage / AGGREGATE / f"date={day}" / "data.parquet").is_file()}
    assert stored == {"2024-02-01", "2024-02-03"}, done.stdout
    summary = done.stdout[done.stdout.index("Summary:") :]
    assert f"skipped {AGGREGATE} [2024-02-02]: raw/city_permits failed that day" in summary, done.stdout
    assert "key_is_unique" in summary and done.stdout.splitlines()[-1].startswith("FAILED")
