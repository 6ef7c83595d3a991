"""What a Dagster user looks for, read over GraphQL from one real ``odf dev``: every source that still
arrives has a freshness policy from its fetch_cron, which the real daemon evaluates (a source whose
last arrival is days old turns red, a new arrival turns it green again); every asset is owned by the
pipeline's team, the source's publisher is metadata; a run queued behind a full pool says so, in
the CLI and in the run's tags the UI shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from odf_cli.graphql import Webserver
from odf_resources.run_tags import QUEUE_STATE_TAG
from tests.operator.cli_support import cli_env, odf, permits_source, serve_days
from tests.operator.dev_support import OdfDev
from tests.operator.ui_support import (
    DAY,
    FEED,
    arrived_days_ago,
    feed_source,
    fill_the_acquisition_pool,
    freshness,
    launch,
    wait_for_freshness,
    wait_for_tag,
)
from tests.support.pipeline import write_registry
from tests.support.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]

ASSETS = """
query { assetNodes { assetKey { path } owners { __typename ... on TeamAssetOwner { team }
  ... on UserAssetOwner { email } } metadataEntries { label ... on TextMetadataEntry { text } } } }"""

CANCEL = "mutation ($id: String!) { terminateRun(runId: $id) { __typename } }"


def test_stale_source_turns_red_and_back_and_every_asset_has_the_pipeline_owner(tmp_path, source_server):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    serve_days(source_server.root, [DAY])
    env = cli_env(
        tmp_path, source_server.url, FRESHNESS_DAEMON_INTERVAL_SECONDS="1", ODF_QUEUE_STATE_INTERVAL_SECONDS="1"
    )
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

        policy = freshness(server, FEED)["internalFreshnessPolicy"]
        assert policy == {
            "__typename": "CronFreshnessPolicy",
            "deadlineCron": "30 1 * * *",
            "lowerBoundDeltaSeconds": 86400,
        }
        # The permits source ended on 2024-02-29: it will not arrive again, so nothing to watch.
        assert freshness(server, ["raw", "city_permits"])["internalFreshnessPolicy"] is None

        arrived_days_ago(dev.home, 3)
        assert wait_for_freshness(server, "DEGRADED") == "DEGRADED"

        done = odf(tmp_path, env, "materialize", "--select", "raw/city_feed", "--start", DAY, "--end", DAY)
        assert done.returncode == 0, done.stdout + done.stderr
        assert wait_for_freshness(server, "HEALTHY") == "HEALTHY"

        _queued_behind_a_full_pool(tmp_path, env, server, source_server)
    finally:
        dev.stop()


def _queued_behind_a_full_pool(tmp_path: Path, env: dict, server: Webserver, source_server) -> None:
    """Two fetches that take their time fill pool odf_acquisition (limit 2 in dagster.yaml); a third
    run waits, and `trigger --wait`, `status` and the run's tag (set by the queued-run sensor in the
    daemon, read over GraphQL as the UI reads it) say for which pool and which runs."""
    holders = fill_the_acquisition_pool(tmp_path, env, server, source_server, hold_seconds=60)

    queued_id, waited = launch(tmp_path, env, server.url, "2024-02-04", "--wait", "--timeout", "3")
    expected = "queued: waiting for pool odf_acquisition (2 of 2 slots in use by runs "
    line = next((line for line in waited.stdout.splitlines() if expected in line), None)
    assert line is not None, waited.stdout + waited.stderr
    assert {run_id.split("-")[0] for run_id in holders} == set(line.split("runs ", 1)[1].rstrip(")").split(", "))
    assert waited.returncode == 2 and "still QUEUED after 3s" in waited.stderr

    status = odf(tmp_path, env, "status", "--url", server.url, queued_id)
    assert f"run {queued_id}: QUEUED" in status.stdout and expected in status.stdout, status.stdout

    tag = wait_for_tag(server, queued_id, QUEUE_STATE_TAG, timeout=40)
    assert tag is not None and tag.startswith(expected), (tag, server.run(queued_id))
    assert {run_id.split("-")[0] for run_id in holders} == set(tag.split("runs ", 1)[1].rstrip(")").split(", "))
    assert server.run(queued_id)["status"] == "QUEUED"

    # Canceled while queued: the tag says it no longer waits, and what it waited for.
    canceled = server.execute(CANCEL, {"id": queued_id})["terminateRun"]
    assert canceled["__typename"] == "TerminateRunSuccess", canceled
    dequeued = wait_for_tag(server, queued_id, QUEUE_STATE_TAG, timeout=40, unless=tag)
    assert dequeued is not None and dequeued.startswith("dequeued: was waiting for pool odf_acquisition"), dequeued
