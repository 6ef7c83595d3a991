"""End to end: ODF's raw → aggregate chain and a failing asset, materialized on the local SQLite
instance; ODF's lineage sensor delivers spec-valid OpenLineage events to a collector on loopback."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from odf.definitions import build_definitions
from odf_resources.lineage.naming import PRODUCER
from odf_resources.parquet_io_manager import OdfParquetIOManager
from tests.lineage.conftest import SensorTicks
from tests.lineage.spec import validate
from tests.support.pipeline import run_assets

RAW, AGG = "raw/iowa_liquor_sales", "aggregates/iowa_liquor_sales/sales_by_county"
DAYS = ["2024-01-02", "2024-01-03"]


def delivered(instance: dg.DagsterInstance) -> None:
    SensorTicks(instance).drain()


def day_window(day: str, days: int = 1) -> tuple[str, str]:
    start = pl.Series([day]).str.to_date().item()
    end = start + __import__("datetime").timedelta(days=days)
    return f"{start}T00:00:00.000Z", f"{end}T00:00:00.000Z"


def parquet_columns(path: Path) -> list[dict]:
    return [{"name": n, "type": str(t)} for n, t in pl.read_parquet_schema(path / "data.parquet").items()]


def datasets(entries: list[dict]) -> list[tuple[str, str]]:
    return [(entry["namespace"], entry["name"]) for entry in entries]


def nominal(event: dict) -> tuple[str, str | None]:
    facet = event["run"]["facets"]["nominalTime"]
    return facet["nominalStartTime"], facet.get("nominalEndTime")


@pytest.mark.timeout(180)
def test_chain_and_failure_emit_spec_valid_events(collector, make_instance, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENLINEAGE_URL", collector.url)
    storage = (tmp_path / "storage").resolve()
    instance = make_instance()
    defs = build_definitions()
    results = {day: run_assets(defs, [RAW, AGG], instance=instance, partition_key=day) for day in DAYS}
    assert all(result.success for result in results.values())

    fails_key = dg.AssetKey(["lineage_test", "always_fails"])

    @dg.asset(
        key=fails_key,
        partitions_def=dg.DailyPartitionsDefinition("2024-01-01"),
        deps=[dg.AssetKey.from_user_string(RAW)],
        io_manager_key="parquet_io_manager",
    )
    def always_fails() -> pl.DataFrame:
        """Fails on purpose."""
        raise ValueError("boom: the source went away")

    failing = dg.Definitions(
        assets=[always_fails], resources={"parquet_io_manager": OdfParquetIOManager.at(str(storage))}
    )
    failed_run = run_assets(failing, ["lineage_test/always_fails"], instance=instance, partition_key=DAYS[0])
    assert not failed_run.success
    delivered(instance)

    events = collector.of()
    for event in events:
        validate(event)
        producers = {event["producer"]} | {facet["_producer"] for facet in event["run"]["facets"].values()}
        assert producers == {PRODUCER}
    raw_name, agg_name = str(storage / RAW), str(storage / AGG)
    for day in DAYS:
        dagster_run = results[day].run_id
        for asset, name in ((RAW, raw_name), (AGG, agg_name)):
            mine = [e for e in collector.of(job=asset) if e["run"]["facets"]["parent"]["run"]["runId"] == dagster_run]
            assert sorted(e["eventType"] for e in mine) == ["COMPLETE", "START"], f"{asset} {day}: {mine}"
            start, complete = sorted(mine, key=lambda e: e["eventType"] != "START")
            assert start["run"]["runId"] == complete["run"]["runId"]
            parent_job = start["run"]["facets"]["parent"]["job"]
            assert (parent_job["namespace"], parent_job["name"]) == ("odf", "test_run")  # run_assets' job
            assert start["job"]["namespace"] == complete["job"]["namespace"] == "odf"
            for event in (start, complete):
                assert datasets(event["outputs"]) == [("file", name)]
            # COMPLETE has the partition's window; START (single-partition run) knows only its start.
            assert nominal(complete) == day_window(day)
            assert nominal(start) == (day_window(day)[0], None)
            columns = [
                {k: f[k] for k in ("name", "type")} for f in complete["outputs"][0]["facets"]["schema"]["fields"]
            ]
            assert columns == parquet_columns(Path(name) / f"date={day}")
            assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] > 0
        agg_complete = next(
            e for e in collector.of("COMPLETE", AGG) if e["run"]["facets"]["parent"]["run"]["runId"] == dagster_run
        )
        assert datasets(agg_complete["inputs"]) == [("file", raw_name)]
    assert all(e["inputs"] == [] for e in collector.of("COMPLETE", RAW))
    # Exactly once: one START and one COMPLETE per lineage run; 2 days × 2 assets.
    assert len(collector.of("START")) == len({e["run"]["runId"] for e in collector.of("START")})
    assert len({e["run"]["runId"] for e in collector.of("COMPLETE")}) == 4

    fail_events = collector.of(job="lineage_test/always_fails")
    assert sorted(e["eventType"] for e in fail_events) == ["FAIL", "START"]
    fail = next(e for e in fail_events if e["eventType"] == "FAIL")
    assert "boom: the source went away" in fail["run"]["facets"]["errorMessage"]["message"]
    assert datasets(fail["outputs"]) == [("file", str(storage / "lineage_test/always_fails"))]
    assert nominal(fail) == (day_window(DAYS[0])[0], None)
    assert len({e["run"]["runId"] for e in fail_events}) == 1
    assert fail["run"]["facets"]["parent"]["run"]["runId"] == failed_run.run_id


@pytest.mark.timeout(120)
def test_range_run_reports_each_partition_and_weekly_windows(collector, make_instance, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENLINEAGE_URL", collector.url)
    monkeypatch.setenv("OPENLINEAGE_NAMESPACE", "odf-test")
    instance = make_instance()
    daily_key, weekly_key = dg.AssetKey(["lt", "daily_numbers"]), dg.AssetKey(["lt", "weekly_total"])

    @dg.asset(
        key=daily_key,
        partitions_def=dg.DailyPartitionsDefinition("2024-01-01"),
        io_manager_key="io",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def daily_numbers(context: dg.AssetExecutionContext) -> pl.DataFrame:
        """One row per day of the range."""
        days = context.partition_keys
        return pl.DataFrame({"date": pl.Series(days).str.to_date(), "value": range(len(days))})

    @dg.asset(
        key=weekly_key,
        partitions_def=dg.WeeklyPartitionsDefinition("2024-01-01"),
        io_manager_key="io",
        ins={"daily": dg.AssetIn(key=daily_key)},
    )
    def weekly_total(daily: pl.DataFrame) -> pl.DataFrame:
        """Sum of the week's values."""
        return daily.select(pl.col("value").sum())

    defs = dg.Definitions(
        assets=[daily_numbers, weekly_total], resources={"io": OdfParquetIOManager.at(str(tmp_path / "storage"))}
    )
    week = [f"2024-01-{d:02d}" for d in range(7, 14)]  # weekly partitions start on Sunday
    assert run_assets(defs, ["lt/daily_numbers"], instance=instance, partition_range=(week[0], week[-1])).success
    assert run_assets(defs, ["lt/weekly_total"], instance=instance, partition_key="2024-01-07").success
    delivered(instance)
    for event in collector.of():
        validate(event)

    daily_completes = collector.of("COMPLETE", "lt/daily_numbers")
    assert sorted(nominal(e) for e in daily_completes) == [day_window(day) for day in week]
    assert len({e["run"]["runId"] for e in daily_completes}) == 7
    # Each partition's START and COMPLETE share a lineage run and its nominal start.
    starts = {e["run"]["runId"]: nominal(e)[0] for e in collector.of("START", "lt/daily_numbers")}
    assert {e["run"]["runId"]: nominal(e)[0] for e in daily_completes} == starts
    (weekly,) = collector.of("COMPLETE", "lt/weekly_total")
    assert nominal(weekly) == day_window("2024-01-07", days=7)
    assert [i["name"] for i in weekly["inputs"]] == [str((tmp_path / "storage" / "lt/daily_numbers").resolve())]
    assert {e["job"]["namespace"] for e in collector.of()} == {"odf-test"}


@pytest.mark.timeout(240)
def test_steps_in_child_processes_deliver_before_exit(collector, make_instance, monkeypatch):
    """Multiprocess executor: each step's child process stores its own materialization events
    and exits; the sensor reads them from the instance like any other."""
    from tests.lineage.subprocess_defs import chain_job

    monkeypatch.setenv("OPENLINEAGE_URL", collector.url)
    instance = make_instance()
    with dg.execute_job(
        dg.reconstructable(chain_job), instance=instance, tags={"dagster/partition": "2024-01-09"}
    ) as result:
        assert result.success
    delivered(instance)
    completes = {e["job"]["name"]: e for e in collector.of("COMPLETE")}
    assert set(completes) == {"lt/numbers", "lt/numbers_total"}
    assert [i["name"].rsplit("/", 2)[-2:] for i in completes["lt/numbers_total"]["inputs"]] == [["lt", "numbers"]]
    assert nominal(completes["lt/numbers"]) == day_window("2024-01-09")
