"""At-least-once delivery by ODF's lineage sensor: a backend that is down for the whole run, a slow
backend and a SIGKILLed run worker lose no event, and a healthy backend gets each event once."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import dagster as dg
import polars as pl
import pytest

from odf.definitions import build_definitions
from odf_assets import checks
from odf_assets.publishing import emit_checked
from odf_resources.storage_resource import OdfStorage
from tests.lineage.collector import LineageCollector
from tests.lineage.conftest import SensorTicks
from tests.lineage.spec import validate
from tests.lineage.test_lineage_events import AGG, RAW
from tests.support.pipeline import run_assets
from tests.support.servers import clean_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKED = dg.AssetKey(["lt", "checked_days"])
DAILY = dg.DailyPartitionsDefinition("2024-01-01")
RANGE = ("2024-01-02", "2024-01-04")
BAD_DAY = "2024-01-03"


@dg.asset(
    key=CHECKED,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={"partition_expr": "date"},
    check_specs=checks.check_specs(CHECKED, checks.Contract(key=("date", "id")), DAILY),
    io_manager_key="parquet_io_manager",
)
def checked_days(context: dg.AssetExecutionContext, odf_storage: OdfStorage):
    """One row per day, but a duplicated key on BAD_DAY: ODF publishes the other days, then fails."""
    days = context.partition_keys
    rows = pl.DataFrame({"date": pl.Series(days).str.to_date(), "id": [1] * len(days)})
    rows = pl.concat([rows, rows.filter(pl.col("date") == pl.lit(BAD_DAY).str.to_date())])
    yield from emit_checked(context, rows, checks.Contract(key=("date", "id")), odf_storage.get())


def expected_counts(runs: dict[str, tuple[int, int, int]]) -> Counter:
    """(asset, event type) -> count, from (START, COMPLETE, FAIL) counts per asset."""
    counts: Counter = Counter()
    for asset, (start, complete, fail) in runs.items():
        counts.update({(asset, "START"): start, (asset, "COMPLETE"): complete, (asset, "FAIL"): fail})
    return +counts


def assert_once_and_in_order(events: list[dict]) -> None:
    """Each (lineage run, event type) once; a lineage run's START before its outcome."""
    ids = [(e["run"]["runId"], e["eventType"]) for e in events]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    first_seen: dict[str, str] = {}
    for run_id, kind in ids:
        first_seen.setdefault(run_id, kind)
    assert set(first_seen.values()) == {"START"}, "an outcome arrived before its START"
    for event in events:
        validate(event)


def run_workload(instance: dg.DagsterInstance) -> list[str]:
    """ODF's raw → aggregate chain for one day, and a range run whose middle day fails its ERROR check."""
    defs = build_definitions()
    chain = run_assets(defs, [RAW, AGG], instance=instance, partition_key="2024-01-02")
    checked_defs = dg.Definitions(assets=[checked_days], resources=defs.resources)
    partial = run_assets(checked_defs, [CHECKED], instance=instance, partition_range=RANGE)
    assert chain.success and not partial.success
    return [chain.run_id, partial.run_id]


WORKLOAD = expected_counts({RAW: (1, 1, 0), AGG: (1, 1, 0), "lt/checked_days": (3, 2, 1)})


@pytest.mark.timeout(180)
def test_backend_down_for_the_whole_run_then_up_gets_every_event_once_in_order(make_instance, monkeypatch, capfd):
    secret = f"olk-{uuid.uuid4().hex}"
    down = LineageCollector()
    down.stop()  # connections refused
    monkeypatch.setenv("OPENLINEAGE_URL", down.url)
    monkeypatch.setenv("OPENLINEAGE_API_KEY", secret)
    instance = make_instance()
    run_ids = run_workload(instance)

    ticks = SensorTicks(instance)
    for _ in range(3):
        ticks.tick()
        time.sleep(0.2)
    assert ticks.position().after == -1 and ticks.position().sent == 0, "nothing was accepted, nothing may be skipped"
    assert ticks.position().failures >= 2
    logged = capfd.readouterr().err  # the sensor's context.log
    assert "OpenLineage send failed (ConnectionError" in logged and "backlog 10 record(s)" in logged
    failing = LineageCollector(status=503)  # up but answering errors: still nothing lost
    monkeypatch.setenv("OPENLINEAGE_URL", failing.url)
    time.sleep(0.5)
    ticks.tick()
    assert len(failing.events) == 1 and ticks.position().after == -1
    failing.stop()

    backend = LineageCollector()
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    try:
        time.sleep(1.0)  # past the backoff
        ticks.drain()
        events = backend.events
        assert Counter((e["job"]["name"], e["eventType"]) for e in events) == WORKLOAD
        assert_once_and_in_order(events)
        # Storage order: every event of the first run before any of the second.
        parents = [e["run"]["facets"]["parent"]["run"]["runId"] for e in events]
        assert parents == sorted(parents, key=run_ids.index)
        fail = next(e for e in events if e["eventType"] == "FAIL")
        assert fail["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith(BAD_DAY)
        assert "key_is_unique" in fail["run"]["facets"]["errorMessage"]["message"]
        completed = sorted(
            e["run"]["facets"]["nominalTime"]["nominalStartTime"][:10]
            for e in events
            if e["eventType"] == "COMPLETE" and e["job"]["name"] == "lt/checked_days"
        )
        assert completed == ["2024-01-02", "2024-01-04"]
        assert {h.get("Authorization") for h in backend.headers} == {f"Bearer {secret}"}
        assert not [body for body in backend.raw_bodies if secret.encode() in body]
        # A later tick with nothing new sends nothing again.
        ticks.tick()
        assert len(backend.events) == len(events)
        out, err = capfd.readouterr()
        assert secret not in out + err
    finally:
        backend.stop()


@pytest.mark.timeout(180)
def test_slow_backend_loses_nothing(make_instance, monkeypatch):
    backend = LineageCollector(delay=0.6)
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    monkeypatch.setenv("ODF_LINEAGE_TICK_SECONDS", "1")  # a tick's budget covers ~2 slow requests
    instance = make_instance()
    run_workload(instance)
    try:
        ticks = SensorTicks(instance)
        count = ticks.drain()
        assert count >= 3, "the tick budget should have split delivery over several ticks"
        assert Counter((e["job"]["name"], e["eventType"]) for e in backend.events) == WORKLOAD
        assert_once_and_in_order(backend.events)
    finally:
        backend.stop()


@pytest.mark.timeout(180)
def test_sigkilled_run_worker_still_gets_complete_events_for_published_partitions(
    make_instance, collector, monkeypatch, tmp_path
):
    monkeypatch.setenv("OPENLINEAGE_URL", collector.url)
    instance = make_instance()
    marker = tmp_path / "published"
    env = {
        **clean_env(),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "ODF_TEST_MARKER": str(marker),
        "PYTHONPATH": ROOT,
        "ODF_STORAGE": os.environ["ODF_STORAGE"],
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.lineage.subprocess_defs", *RANGE],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert worker.poll() is None and time.monotonic() < deadline, "the run never published its first days"
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the run worker and its step process, without warning
        worker.wait(10)
    [run] = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.STARTED
    # What run monitoring does when it finds the worker gone.
    instance.report_run_failed(run, "run worker was killed")

    SensorTicks(instance).drain()
    events = collector.events
    assert Counter(e["eventType"] for e in events) == {"START": 3, "COMPLETE": 2, "ABORT": 1}
    assert_once_and_in_order(events)
    complete_days = sorted(
        e["run"]["facets"]["nominalTime"]["nominalStartTime"][:10] for e in events if e["eventType"] == "COMPLETE"
    )
    assert complete_days == ["2024-01-02", "2024-01-03"]
    abort = next(e for e in events if e["eventType"] == "ABORT")
    assert abort["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith("2024-01-04")
