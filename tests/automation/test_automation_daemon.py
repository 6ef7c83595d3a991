"""Declarative automation against a real ``dagster dev`` daemon (no mocked daemon):

* a raw day materialized on its own: the automation sensor runs that day's aggregates (and the
  rest of the daily pipeline) in one run, and nothing else;
* a consolidation waits until every input has the day, then follows once;
* a week materialized day by day: the weekly assets wait through six days, then run exactly once
  after the seventh, and not again on later ticks.

Days are materialized in-process on the same instance as the daemon (like ``odf materialize``
beside ``odf dev``), so the test waits on the automation alone. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

from odf_cli.main import main as odf
from odf_sensors.automation import AUTOMATION_SENSOR
from tests.consolidation.test_consolidation import JOINED, write_consolidations, write_portals
from tests.orchestration.dagster_dev import DagsterDev
from tests.support.servers import clean_env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

INTERVAL_SECONDS = 2
RAW = "raw/iowa_liquor_sales"
AGGREGATES = ("aggregates/iowa_liquor_sales/sales_by_county", "aggregates/iowa_liquor_sales/sales_by_vendor")
WEEKLY = ("sales/weekly_sales", "sales/sales_trends", "sales/top_sales_days")
RAW_DAY = "2024-01-10"
WEEK = [f"2024-01-{day}" for day in range(15, 22)]  # Monday..Sunday, weekly partition 2024-01-15
RUNS = (
    """query { runsOrError { ... on Runs { results { runId status tags { key value } assetSelection { path } } } } }"""
)
TICKS = f"""
query {{ sensorOrError(sensorSelector: {{repositoryLocationName: "odf", repositoryName: "__repository__",
  sensorName: "{AUTOMATION_SENSOR}"}}) {{ ... on Sensor {{ sensorState {{ ticks(limit: 10) {{
  timestamp endTimestamp }} }} }} }} }}"""


class Stack:
    def __init__(self, dev: DagsterDev, storage: Path):
        self.dev, self.storage = dev, storage

    def runs(self) -> list[dict]:
        data = requests.post(f"{self.dev.url}/graphql", json={"query": RUNS}, timeout=30).json()["data"]
        return data["runsOrError"]["results"]

    def automation_runs(self, partition: str) -> list[dict]:
        return [
            run
            for run in self.runs()
            if {"key": "dagster/partition", "value": partition} in run["tags"]
            and any(tag["key"] == "dagster/from_automation_condition" for tag in run["tags"])
        ]

    def finished_ticks_since(self, moment: float) -> int:
        data = requests.post(f"{self.dev.url}/graphql", json={"query": TICKS}, timeout=30).json()["data"]
        ticks = data["sensorOrError"]["sensorState"]["ticks"]
        return sum(1 for tick in ticks if tick["timestamp"] >= moment and tick["endTimestamp"])

    def let_automation_tick(self, ticks: int = 2) -> None:
        """Until ``ticks`` automation evaluations have started after now and finished: whatever they
        would request is requested by then (instead of sleeping for a few intervals, which under load
        may cover fewer evaluations than intended)."""
        moment = time.time()
        wait_for(lambda: self.finished_ticks_since(moment) >= ticks, 120, f"{ticks} automation ticks", self)

    def stored(self, asset: str, day: str, column: str = "date") -> bool:
        return (self.storage / asset / f"{column}={day}" / "data.parquet").exists()


def wait_for(condition, timeout: float, what: str, stack: Stack):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{stack.dev.log_tail()}")


def selected(run: dict) -> set[str]:
    return {"/".join(item["path"]) for item in run["assetSelection"] or []}


@pytest.fixture(scope="module")
def stack():
    workdir = Path(tempfile.mkdtemp(prefix="odf-automation-"))
    storage = workdir / "storage"
    sources, consolidations = write_portals(workdir)
    registries = f"{sources}:{write_consolidations(consolidations, JOINED)}"
    env = clean_env(
        ODF_STORAGE=str(storage),
        ODF_SOURCES=registries,
        ODF_AUTOMATION_INTERVAL_SECONDS=str(INTERVAL_SECONDS),
        ODF_RETRY_DELAY_SECONDS="0",
        # What is asserted is which runs automation requests, not how a run spreads its steps over
        # processes (tests/operator/test_shared_instance.py runs the default executor under odf dev):
        # one process per run instead of one per step.
        ODF_STEP_EXECUTOR="in_process",
    )
    dev = DagsterDev(workdir / "dagster_home", free_port(), env)
    try:
        dev.start()
        yield Stack(dev, storage)
    finally:
        dev.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert dev.exited_on_sigint and dev.leftovers == 0, (
        f"dagster dev did not shut down on SIGINT: {dev.leftover_details}"
    )


@pytest.fixture
def same_storage(stack, monkeypatch):
    monkeypatch.setenv("ODF_STORAGE", str(stack.storage))


def test_the_automation_sensor_is_running(stack):
    query = (
        "query { repositoriesOrError { ... on RepositoryConnection "
        "{ nodes { sensors { name sensorState { status } } } } } }"
    )
    data = requests.post(f"{stack.dev.url}/graphql", json={"query": query}, timeout=30).json()["data"]
    states = {
        s["name"]: s["sensorState"]["status"] for node in data["repositoriesOrError"]["nodes"] for s in node["sensors"]
    }
    assert states[AUTOMATION_SENSOR] == "RUNNING"


def test_a_raw_day_is_followed_by_its_aggregates(stack, same_storage):
    trigger(stack, RAW, RAW_DAY)
    assert not any(stack.stored(asset, RAW_DAY) for asset in AGGREGATES)  # the trigger ran the raw asset alone

    runs = wait_for(
        lambda: [r for r in stack.automation_runs(RAW_DAY) if r["status"] == "SUCCESS"],
        240,
        "the aggregates' automation run",
        stack,
    )
    assert len(runs) == 1
    assert set(AGGREGATES) | {"sales/cleaned_sales", "sales/enriched_daily_summary"} <= selected(runs[0])
    assert RAW not in selected(runs[0])
    assert all(stack.stored(asset, RAW_DAY) for asset in AGGREGATES)
    assert {"key": "odf/queue", "value": "aggregation"} in runs[0]["tags"]
    stack.let_automation_tick()  # later ticks request nothing more for the day
    assert len(stack.automation_runs(RAW_DAY)) == 1


def trigger(stack: Stack, asset: str, day: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = odf(["trigger", "--asset", asset, "--date", day, "--wait", "--timeout", "240", "--url", stack.dev.url])
    assert status == 0, out.getvalue() + stack.dev.log_tail()


def test_a_consolidation_follows_once_every_input_has_the_day(stack, same_storage):
    day, asset = "2024-01-03", "consolidations/permits_and_fees"
    trigger(stack, "raw/portal_a", day)
    stack.let_automation_tick()  # portal_b's day is missing: nothing is requested
    assert stack.automation_runs(day) == [] and not stack.stored(asset, day)
    trigger(stack, "raw/portal_b", day)
    runs = wait_for(
        lambda: [r for r in stack.automation_runs(day) if r["status"] == "SUCCESS"], 240, "the consolidation run", stack
    )
    assert len(runs) == 1 and selected(runs[0]) == {asset}
    assert stack.stored(asset, day)


def test_weekly_assets_run_once_after_the_seventh_day(stack, same_storage):
    from odf.definitions import build_definitions

    defs = build_definitions()
    ingest = defs.resolve_job_def(defs.resolve_schedule_def("ingest_iowa_liquor_sales_daily").job_name)
    instance = dg.DagsterInstance.from_config(str(stack.dev.home))

    def ingest_day(day: str) -> None:
        # The daily schedule's job (here over all its sources): raw plus every daily asset, in one run.
        assert ingest.execute_in_process(instance=instance, partition_key=day).success

    for day in WEEK[:6]:
        ingest_day(day)
        assert not stack.automation_runs(day)  # the ingest run did the day's aggregates itself
    stack.let_automation_tick()  # automation sees six of seven days
    assert stack.automation_runs(WEEK[0]) == []
    assert not stack.stored("sales/weekly_sales", WEEK[0], "week_start")

    ingest_day(WEEK[6])
    runs = wait_for(
        lambda: [r for r in stack.automation_runs(WEEK[0]) if r["status"] == "SUCCESS"], 240, "the weekly run", stack
    )
    assert len(runs) == 1 and selected(runs[0]) == set(WEEKLY)
    assert stack.stored("sales/weekly_sales", WEEK[0], "week_start")
    stack.let_automation_tick()
    assert len(stack.automation_runs(WEEK[0])) == 1  # once, not once per day
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(WEEKLY[0]), asset_partitions=[WEEK[0]]), limit=10
    ).records
    assert len(records) == 1
    instance.dispose()
