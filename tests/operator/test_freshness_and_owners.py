"""What a Dagster user looks for, read over GraphQL from one real ``odf dev``: every source that still
arrives has a freshness policy from its fetch_cron, which the real daemon evaluates (a source whose
last arrival is days old turns red, a new arrival turns it green again); every asset is owned by the
pipeline's team, the source's publisher is metadata; a run queued behind a full pool says so."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import StepMaterializationData

from odf_cli.graphql import Webserver
from tests.operator.cli_support import cli_env, odf, permits_source, serve_days
from tests.operator.dev_support import OdfDev
from tests.support.pipeline import write_registry
from tests.support.servers import free_port, stall

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
FEED = ["raw", "city_feed"]
DAY = "2024-02-01"

ASSETS = """
query { assetNodes { assetKey { path } owners { __typename ... on TeamAssetOwner { team }
  ... on UserAssetOwner { email } } metadataEntries { label ... on TextMetadataEntry { text } } } }"""
FRESHNESS = """
query ($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  internalFreshnessPolicy { __typename ... on CronFreshnessPolicy { deadlineCron lowerBoundDeltaSeconds } }
  freshnessStatusInfo { freshnessStatus } } }"""


def feed_source(url: str) -> dict:
    """A source that still arrives (no end_date), fetched at 01:30 UTC every day."""
    source = {**permits_source(url), "name": "city_feed", "group": "feeds", "aggregates": []}
    del source["end_date"]
    return source


def _freshness(server: Webserver, path: list[str]) -> dict:
    return server.execute(FRESHNESS, {"path": path})["assetNodes"][0]


def _wait_for_freshness(server: Webserver, status: str, timeout: float = 90) -> str:
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        info = _freshness(server, FEED)["freshnessStatusInfo"]
        seen = info and info["freshnessStatus"]
        if seen == status:
            return seen
        time.sleep(1)
    return seen


def _arrived_days_ago(home: Path, days: int) -> None:
    """The feed's last arrival, days ago: a materialization recorded with that time, as Dagster records
    one reported without a run (the past cannot be waited for in a test)."""
    event = dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="__RUNLESS_JOB__",
        event_specific_data=StepMaterializationData(dg.AssetMaterialization(FEED, partition=DAY)),
    )
    timestamp = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.store_event(
            dg.EventLogEntry(
                error_info=None,
                level="INFO",
                user_message="",
                run_id="__RUNLESS_RUN__",
                timestamp=timestamp,
                dagster_event=event,
            )
        )


def test_stale_source_turns_red_and_back_and_every_asset_has_the_pipeline_owner(tmp_path, source_server):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    serve_days(source_server.root, [DAY])
    env = cli_env(tmp_path, source_server.url, FRESHNESS_DAEMON_INTERVAL_SECONDS="1")
    registry = write_registry(tmp_path, [permits_source(source_server.url), feed_source(source_server.url)])
    env["ODF_SOURCES"] = str(registry)

    dev = OdfDev(tmp_path, free_port(), env)
    try:
        dev.start()
        server = Webserver(dev.url)

        nodes = server.execute(ASSETS)["assetNodes"]
        owners = {
            "/".join(n["assetKey"]["path"]): [o.get("team") or o.get("email") for o in n["owners"]] for n in nodes
        }
        assert {key.split("/")[0] for key in owners} >= {"raw", "aggregates", "sales", "analysis", "predictions"}
        assert set(map(tuple, owners.values())) == {("data-platform",)}, owners
        publisher = {
            "/".join(n["assetKey"]["path"]): {e["label"]: e.get("text") for e in n["metadataEntries"]}.get("publisher")
            for n in nodes
        }
        assert publisher["raw/city_feed"] == "City open-data portal"

        policy = _freshness(server, FEED)["internalFreshnessPolicy"]
        assert policy == {
            "__typename": "CronFreshnessPolicy",
            "deadlineCron": "30 1 * * *",
            "lowerBoundDeltaSeconds": 86400,
        }
        # The permits source ended on 2024-02-29: it will not arrive again, so nothing to watch.
        assert _freshness(server, ["raw", "city_permits"])["internalFreshnessPolicy"] is None

        _arrived_days_ago(dev.home, 3)
        assert _wait_for_freshness(server, "DEGRADED") == "DEGRADED"

        done = odf(tmp_path, env, "materialize", "--select", "raw/city_feed", "--start", DAY, "--end", DAY)
        assert done.returncode == 0, done.stdout + done.stderr
        assert _wait_for_freshness(server, "HEALTHY") == "HEALTHY"

        _queued_behind_a_full_pool(tmp_path, env, server, source_server)
    finally:
        dev.stop()


def _launch(tmp_path: Path, env: dict, url: str, day: str, *wait: str) -> tuple[str, object]:
    done = odf(tmp_path, env, "trigger", "--url", url, "--asset", "raw/city_permits", "--date", day, *wait)
    return done.stdout.split("launched run ", 1)[1].split()[0], done


def _queued_behind_a_full_pool(tmp_path: Path, env: dict, server: Webserver, source_server) -> None:
    """Two fetches that take their time fill pool odf_acquisition (limit 2 in dagster.yaml); a third
    run waits, and both `trigger --wait` and `status` say for which pool and which runs."""
    for day in ("2024-02-02", "2024-02-03"):
        source_server.script(f"/{day}.csv", stall(25, b"permit_id,district,fee\n1,north,1.0\n"))
    holders = [_launch(tmp_path, env, server.url, day)[0] for day in ("2024-02-02", "2024-02-03")]
    deadline = time.monotonic() + 120
    while {server.run(run_id)["status"] for run_id in holders} - {"STARTING", "STARTED"}:
        assert time.monotonic() < deadline, [server.run(run_id)["status"] for run_id in holders]
        time.sleep(0.5)

    queued_id, waited = _launch(tmp_path, env, server.url, "2024-02-04", "--wait", "--timeout", "3")
    expected = "queued: waiting for pool odf_acquisition (2 of 2 slots in use by runs "
    line = next((line for line in waited.stdout.splitlines() if expected in line), None)
    assert line is not None, waited.stdout + waited.stderr
    assert {run_id.split("-")[0] for run_id in holders} == set(line.split("runs ", 1)[1].rstrip(")").split(", "))
    assert waited.returncode == 2 and "still QUEUED after 3s" in waited.stderr

    status = odf(tmp_path, env, "status", "--url", server.url, queued_id)
    assert f"run {queued_id}: QUEUED" in status.stdout and expected in status.stdout, status.stdout
