"""``odf materialize`` as a user runs it, without a terminal: --select over a registry-added source
and a group, one progress line per step, the summary table, clipping warnings and the exit code."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from tests.operator.cli_support import cli_env, odf, serve_days

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path):
    """A directory like a checkout: the repo's dagster.yaml, nothing else (the CLI creates .odf/)."""
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    return tmp_path


def test_select_registry_source_by_keys_then_by_group_with_progress_and_summary(workdir, source_server):
    serve_days(source_server.root, ["2024-02-01", "2024-02-02"])
    env = cli_env(workdir, source_server.url)

    done = odf(
        workdir,
        env,
        "materialize",
        "--select",
        "raw/city_permits,aggregates/city_permits/permits_by_district",
        "--start",
        "2024-01-30",
        "--end",
        "2024-02-02",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "warning: 2024-01-30..2024-02-02 clipped to 2024-02-01..2024-02-02" in out
    # One line per finished step (no terminal control characters), in dependency order.
    steps = [line for line in out.splitlines() if line.startswith("  ✓ ")]
    assert [line.split()[1] for line in steps] == ["raw/city_permits", "aggregates/city_permits/permits_by_district"]
    assert "2 partition(s)  4 rows" in steps[0] and "\r" not in out and "\033[" not in out
    table = out[out.index("Summary:") :]
    assert "raw/city_permits" in table and "aggregates/city_permits/permits_by_district" in table
    assert "succeeded" in out.splitlines()[-1]
    assert (workdir / ".odf" / "dagster_home" / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()
    assert (workdir / ".odf" / "storage" / "raw" / "city_permits" / "date=2024-02-02" / "data.parquet").is_file()

    # A group and a range whose last day repeats a key: the ERROR check fails, so does the command;
    # the downstream of the day that passed is still built by the same command (issue 20).
    serve_days(source_server.root, ["2024-02-03"], duplicate_on="2024-02-03")
    done = odf(workdir, env, "materialize", "--select", "group:permits", "--start", "2024-02-02", "--end", "2024-02-03")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "key_is_unique" in done.stdout and done.stdout.splitlines()[-1].startswith("FAILED")
    # The summary once, no stack trace: Dagster's own log lines went to the log file named.
    output = done.stdout + done.stderr
    assert output.count("Summary:") == 1 and "Traceback" not in output and "dagster - ERROR" not in output, output
    log_file = Path(done.stdout.split("Dagster's log with the stack traces: ", 1)[1].split()[0])
    assert log_file.parent == workdir / ".odf" / "dagster_home" / "logs" and "STEP_FAILURE" in log_file.read_text()
    followed = done.stdout[done.stdout.index("following the 1 published day(s) downstream") :]
    assert "✓ aggregates/city_permits/permits_by_district" in followed.splitlines()[2], done.stdout
    summary = done.stdout[done.stdout.index("Summary:") :]
    assert (
        "skipped aggregates/city_permits/permits_by_district [2024-02-03]: raw/city_permits failed that day" in summary
    )

    # --verbose: Dagster's own lines with the stack trace on the terminal, the summary still once.
    loud = odf(
        workdir,
        env,
        "materialize",
        "--select",
        "raw/city_permits",
        "--start",
        "2024-02-03",
        "--end",
        "2024-02-03",
        "--verbose",
    )
    output = loud.stdout + loud.stderr
    assert loud.returncode == 1 and output.count("Summary:") == 1, output
    assert "dagster - ERROR" in loud.stderr and "STEP_FAILURE" in loud.stderr and '  File "' in loud.stderr, output


def test_select_errors_answer_before_anything_runs(workdir, source_server):
    env = cli_env(workdir, source_server.url)
    unknown = odf(workdir, env, "materialize", "--select", "raw/no_such_source")
    assert unknown.returncode == 2 and "raw/no_such_source" in unknown.stderr
    empty = odf(workdir, env, "materialize", "--select", "group:no_such_group")
    assert empty.returncode == 2 and "selects no assets" in empty.stderr
    outside = odf(
        workdir, env, "materialize", "--select", "group:permits", "--start", "2030-01-01", "--end", "2030-01-02"
    )
    assert (
        outside.returncode == 2 and "no partitions of" in outside.stderr and "2024-02-01..2024-02-29" in outside.stderr
    )


def test_runs_follow_each_assets_backfill_policy():
    import dagster as dg

    from odf.definitions import build_definitions
    from odf_cli.pipeline_run import partition_batches

    graph = build_definitions().resolve_asset_graph()
    days = (
        [f"2024-01-{day:02d}" for day in range(1, 32)]
        + [f"2024-02-{day:02d}" for day in range(1, 30)]
        + ["2024-03-01", "2024-03-02"]
    )
    raw = [dg.AssetKey(["raw", "iowa_liquor_sales"])]
    # single_run(): any range is one run (the asset bounds its memory by windows of days).
    assert [len(batch) for batch in partition_batches(graph, raw, days + ["2024-03-03"])] == [63]
    weekly = [dg.AssetKey(["sales", "weekly_sales"])]
    assert [len(batch) for batch in partition_batches(graph, weekly, ["2024-01-01", "2024-01-08"])] == [2]
    predictions = [dg.AssetKey(["predictions", "iris_predictions"]), dg.AssetKey(["predictions", "iris_rejects"])]
    assert partition_batches(graph, predictions, days[:3]) == [[day] for day in days[:3]]  # no policy: one day per run


@pytest.mark.parametrize(
    "partitions_def",
    [
        dg.DailyPartitionsDefinition("2018-05-20", end_date="2019-08-27"),
        dg.WeeklyPartitionsDefinition("2024-01-01", day_offset=1),
        dg.DailyPartitionsDefinition("2025-06-01", timezone="America/New_York", end_offset=1),
        dg.MonthlyPartitionsDefinition("2023-01-01"),
    ],
    ids=["bounded daily", "weekly from Monday", "daily in New York, one ahead", "monthly"],
)
def test_the_keys_of_a_range_are_the_partitions_whose_whole_window_lies_inside_it(partitions_def):
    """``keys_in_range`` asks only for the windows starting in the range; the keys are those a walk over
    every partition would keep, at the partitioning's bounds too."""
    from odf_cli.pipeline_run import keys_in_range

    windows = {key: partitions_def.time_window_for_partition_key(key) for key in partitions_def.get_partition_keys()}

    def every_partition_walked(start: str, end: str) -> list[str]:
        first, after_last = date.fromisoformat(start), date.fromisoformat(end) + timedelta(days=1)
        return [key for key, w in windows.items() if w.start.date() >= first and w.end.date() <= after_last]

    today = date.today()
    ranges = [
        ("2019-08-26", "2019-08-26"),
        ("2019-08-20", "2019-09-30"),
        ("2010-01-01", "2018-05-25"),
        ("2023-12-30", "2024-03-31"),
        ("2024-01-03", "2024-01-20"),
        ((today - timedelta(days=9)).isoformat(), (today + timedelta(days=3)).isoformat()),
    ]
    kept = {span: keys_in_range(partitions_def, *span) for span in ranges}
    assert kept == {span: every_partition_walked(*span) for span in ranges}
    assert any(kept.values())
