"""Every benchmark runs as a user runs it (``python -m bench.NAME --quick``) and reports a result that
parses; their cross-checks hold on small inputs. No timing is asserted.

What is: ODF's Polars transforms give the same results as the independent pandas and DuckDB
implementations (the aggregates bench exits non-zero otherwise), the large-input raw step keeps
every row and passes its checks under both read settings, every landed item is scored or rejected,
batched and per-item ONNX scores agree, the backfill's range runs store every day, and a benchmark
child reports its own peak memory, not its parent's. README's performance table is rendered from
the same results.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import aggregates, large_input
from bench.__main__ import BENCHMARKS, readme_table, rewrite_readme
from bench.conditions import parse

ROOT = Path(__file__).resolve().parents[2]
CHECKS = [
    "non_empty_partition",
    "schema_matches_registry",
    "rows_conform",
    "key_is_unique",
    "null_rates_within_limits",
    "values_within_ranges",
]


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """Runs a benchmark's ``--quick`` mode on first use and keeps (process, result) for the module, so
    each test pays (and is timed out on) only the runs it needs."""
    runs: dict[str, tuple] = {}

    def run(name: str) -> tuple:
        if name not in runs:
            tmp = tmp_path_factory.mktemp(name)
            env = {k: v for k, v in os.environ.items() if not k.startswith("ODF_")} | {"ODF_BENCH_TMP": str(tmp)}
            done = subprocess.run(
                [sys.executable, "-m", f"bench.{name}", "--quick"], cwd=ROOT, env=env, capture_output=True, text=True
            )
            runs[name] = (done, parse(done.stdout) if done.returncode == 0 else None)
        return runs[name]

    return run


def result_of(quick_results, name: str) -> dict:
    done, result = quick_results(name)
    assert done.returncode == 0, f"bench.{name} --quick exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert result["bench"] == name and result["date"] and result["machine"] and result["load_average"]
    return result


pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_every_benchmark_runs_in_quick_mode_and_reports_its_conditions(quick_results, name):
    result = result_of(quick_results, name)
    assert result["load_average_after"]


def test_aggregates_engines_agree_and_report_their_own_memory(quick_results):
    table = result_of(quick_results, "aggregates")["table"]
    assert {(row["stage"], row["engine"]) for row in table} == {
        (stage, engine) for stage, engines in aggregates.STAGE_ENGINES.items() for engine in engines
    }
    assert all(row["seconds"] > 0 and row["peak_rss_mb"] >= row["import_rss_mb"] > 0 for row in table)


def test_large_input_runs_the_raw_step_and_keeps_every_row_with_both_read_settings(quick_results):
    summary = result_of(quick_results, "large_input")
    assert set(summary["runs"]) == {*large_input.CHUNK_SETTINGS, large_input.BARE_POLARS}
    assert all(run["rows"] == summary["rows"] > 0 for run in summary["runs"].values())
    for label in large_input.CHUNK_SETTINGS:
        run = summary["runs"][label]
        assert list(run["phases_s"]) == ["stage", "verdicts", "publish"]
        assert run["checks"] == dict.fromkeys(CHECKS, True)


def test_landing_memory_scores_every_landed_item_on_both_paths(quick_results):
    summary = result_of(quick_results, "landing_memory")
    runs = summary["runs"].values()
    assert all(
        run["unaccounted"] == 0 and run["records"] == summary["records"] == run["predicted"] + run["rejected"]
        for run in runs
    )
    assert all(run["peak_rss_mb"] >= run["import_rss_mb"] > 0 for run in runs)


def test_predictions_batched_and_per_item_scores_agree(quick_results):
    result = result_of(quick_results, "predictions")
    assert result["rows"] == 2_000 and result["max_probability_difference"] < 1e-5
    assert set(result["rows_per_second"]) == {"per_item", "batched", "asset_path"}


def test_backfill_stores_every_day_in_one_range_run(quick_results):
    result = result_of(quick_results, "backfill")
    assert (result["days"], result["runs_with_policy"]) == (6, 1)  # the bench asserts every day is stored


def test_registry_scale_builds_one_schedule_per_source_and_one_ingest_job_per_range(quick_results):
    sizes = result_of(quick_results, "registry_scale")["sizes"]
    assert [size["sources"] for size in sizes] == [5, 20]
    # One schedule per source; its generated sources share their days, so they share one ingest job.
    assert sizes[1]["schedules"] - sizes[0]["schedules"] == 15
    assert sizes[1]["jobs"] == sizes[0]["jobs"]
    # The floor builds the same sources in plain Dagster: one schedule each, one ingest job for them all
    # (beside the implicit asset job and a maintenance job).
    assert [(size["floor"]["schedules"], size["floor"]["jobs"]) for size in sizes] == [(5, 3), (20, 3)]
    assert all(size["over_floor"] > 0 for size in sizes)


def test_startup_times_each_command_in_each_layout(quick_results):
    result = result_of(quick_results, "startup")
    assert set(result["processes"]) == {"import dagster", "import odf.definitions", "odf --help"}
    assert set(result["ratios"]) == {"project source", "compiled"} and result["cli_seconds"] > 0


def test_partitions_contenders_run_and_a_day_writes_seven_asset_events(quick_results):
    # A day on the default instance writes the events the per-day cost is made of, no more: one
    # materialization and one planned event per asset, one evaluation per declared check
    # (raw: data_contract, data_quality; aggregate: data_contract).
    table = result_of(quick_results, "partitions")["table"]
    assert set(table) == {f"small/{mode}" for mode in ("default_instance", "in_memory", "dagster_free", "postgres")}
    assert all(seconds > 0 for row in table.values() for seconds in row["medians"].values())
    # The production storage writes the same events as the local instance.
    assert table["small/postgres"]["events"] == table["small/default_instance"]["events"]
    events = table["small/default_instance"]["events"]
    per_day = {kind: events["2"][kind] - events["1"][kind] for kind in events["2"] if "ASSET" in kind}
    assert per_day == {
        "ASSET_MATERIALIZATION": 2,
        "ASSET_MATERIALIZATION_PLANNED": 2,
        "ASSET_CHECK_EVALUATION": 3,
        "ASSET_CHECK_EVALUATION_PLANNED": 0,
    }


def test_the_default_pipelines_dagster_free_floor_publishes_every_daily_asset(tmp_path):
    # The quick mode runs the small pipeline only; the default pipeline's floor must do the same
    # per-day work as its run: nine daily assets, one object per asset and day.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODF_")} | {"ODF_STORAGE": str(tmp_path)}
    command = [sys.executable, "-m", "bench.partitions", "--child", "dagster_free", "default", "2"]
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    stored = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("data.parquet"))
    assets = sorted({name.rsplit("/date=", 1)[0] for name in stored})
    assert assets == [
        "aggregates/iowa_liquor_sales/sales_by_county",
        "aggregates/iowa_liquor_sales/sales_by_vendor",
        "analysis/stats",
        "analysis/summary",
        "raw/iowa_liquor_sales",
        "sales/cleaned_sales",
        "sales/daily_sales_summary",
        "sales/data_quality_metrics",
        "sales/enriched_daily_summary",
    ]
    assert len(stored) == 2 * len(assets)


def test_readme_table_is_rendered_from_the_results_between_its_markers(quick_results, tmp_path):
    results = {name: result_of(quick_results, name) for name in BENCHMARKS}
    conditions = {key: results["startup"][key] for key in ("date", "machine", "load_average")}
    table = readme_table(results, conditions)
    for name in BENCHMARKS:
        assert f"`bench.{name}`" in table
    assert "PostgreSQL (production storage, local cluster)" in table  # issue 21: per-day cost in production too
    assert "(in-memory floor: " in table  # the per-day target read against the instance with no storage I/O
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    rewrite_readme(table, readme)
    text = readme.read_text(encoding="utf-8")
    assert text.count(table) == 1 and conditions["date"] in text


def test_a_child_reports_its_own_peak_not_its_parents():
    ballast = bytearray(400 << 20)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touch every page so the parent really holds it
    code = (
        "from bench.memory import peak_rss_mb; import resource; "
        "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    own, inherited = map(
        float,
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.split(),
    )
    assert own < 150 and inherited >= 400, "ru_maxrss carries the parent's peak across exec; VmHWM does not"
    del ballast
