"""A real ``odf dev`` seen as a Dagster user sees it: freshness state over GraphQL, a stale source,
runs launched with ``odf trigger`` and a pool kept full (used by tests/operator/test_odf_dev_ui.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.events import StepMaterializationData

from odf_cli.graphql import Webserver
from tests.operator.cli_support import odf, permits_source
from tests.support.servers import stall

FEED = ["raw", "city_feed"]
DAY = "2024-02-01"

FRESHNESS = """
query ($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  internalFreshnessPolicy { __typename ... on CronFreshnessPolicy { deadlineCron lowerBoundDeltaSeconds } }
  freshnessStatusInfo { freshnessStatus } } }"""


def feed_source(url: str) -> dict:
    """A source that still arrives (no end_date), fetched at 01:30 UTC every day."""
    source = {**permits_source(url), "name": "city_feed", "group": "feeds", "aggregates": []}
    del source["end_date"]
    return source


def freshness(server: Webserver, path: list[str]) -> dict:
    return server.execute(FRESHNESS, {"path": path})["assetNodes"][0]


def wait_for_freshness(server: Webserver, status: str, timeout: float = 90) -> str:
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        info = freshness(server, FEED)["freshnessStatusInfo"]
        seen = info and info["freshnessStatus"]
        if seen == status:
            return seen
        time.sleep(1)
    return seen


def arrived_days_ago(home: Path, days: int) -> None:
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


def launch(tmp_path: Path, env: dict, url: str, day: str, *wait: str) -> tuple[str, object]:
    done = odf(tmp_path, env, "trigger", "--url", url, "--asset", "raw/city_permits", "--date", day, *wait)
    return done.stdout.split("launched run ", 1)[1].split()[0], done


def fill_the_acquisition_pool(
    tmp_path: Path, env: dict, server: Webserver, source_server, hold_seconds: float = 25
) -> list[str]:
    """Two runs whose fetch takes its time hold both slots of pool odf_acquisition; their ids."""
    for day in ("2024-02-02", "2024-02-03"):
        source_server.script(f"/{day}.csv", stall(hold_seconds, b"permit_id,district,fee\n1,north,1.0\n"))
    holders = [launch(tmp_path, env, server.url, day)[0] for day in ("2024-02-02", "2024-02-03")]
    deadline = time.monotonic() + 120
    while {server.run(run_id)["status"] for run_id in holders} - {"STARTING", "STARTED"}:
        assert time.monotonic() < deadline, [server.run(run_id)["status"] for run_id in holders]
        time.sleep(0.5)
    return holders


def wait_for_tag(server: Webserver, run_id: str, key: str, timeout: float, unless: str | None = None) -> str | None:
    """The run's tag ``key`` once it is set (to anything but ``unless``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tags = {tag["key"]: tag["value"] for tag in server.run(run_id)["tags"]}
        if tags.get(key) not in (None, unless):
            return tags[key]
        time.sleep(0.5)
    return None
