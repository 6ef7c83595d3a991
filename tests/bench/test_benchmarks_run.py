"""The benchmarks stay runnable, and their cross-checks hold on small inputs.

No timing is asserted. What is: ODF's Polars transforms give the same results as the independent
pandas and DuckDB implementations, the large-input raw step keeps every row and passes its
checks under both read settings, and a benchmark child reports its own peak memory, not its parent's.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from bench import aggregates, large_input

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def at_repository_root(monkeypatch):
    # The benchmarks start their children with ``python -m bench.…``, which resolves from here.
    monkeypatch.chdir(ROOT)


def test_aggregates_polars_pandas_and_duckdb_agree_on_both_stages():
    # main() raises SystemExit naming the engine and table if any result differs from Polars'.
    table = aggregates.main(["--rows", "20000"])
    assert {(row["stage"], row["engine"]) for row in table} == {
        (s, e) for s in aggregates.STAGES for e in aggregates.ENGINES
    }
    assert all(row["seconds"] > 0 and row["peak_rss_mb"] >= row["import_rss_mb"] > 0 for row in table)


def test_large_input_runs_the_raw_step_and_keeps_every_row_with_both_read_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("ODF_BENCH_TMP", str(tmp_path))
    summary = large_input.main(["--gigabytes", "0.01"])
    assert set(summary["runs"]) == {*large_input.CHUNK_SETTINGS, large_input.BARE_POLARS}
    assert all(run["rows"] == summary["rows"] > 0 for run in summary["runs"].values())
    for label in large_input.CHUNK_SETTINGS:
        run = summary["runs"][label]
        assert list(run["phases_s"]) == ["stage", "verdicts", "publish"]
        assert run["checks"] == dict.fromkeys(
            [
                "non_empty_partition",
                "schema_matches_registry",
                "rows_conform",
                "key_is_unique",
                "null_rates_within_limits",
                "values_within_ranges",
            ],
            True,
        )


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


def test_landing_memory_scores_every_landed_item_on_both_paths(tmp_path, monkeypatch):
    from bench import landing_memory

    monkeypatch.setenv("ODF_BENCH_TMP", str(tmp_path))
    summary = landing_memory.main(["--megabytes", "1"])
    runs = summary["runs"].values()
    assert all(
        run["unaccounted"] == 0 and run["records"] == summary["records"] == run["predicted"] + run["rejected"]
        for run in runs
    )
    assert all(run["peak_rss_mb"] >= run["import_rss_mb"] > 0 for run in runs)
