"""What a Dagster user sees in one real ``odf dev`` (started once for this module), read over GraphQL
and photographed for the docs:

* every source that still arrives has a freshness policy from its fetch_cron, which the real daemon
  evaluates (a source whose last arrival is days old turns red, a new arrival turns it green again);
  every asset is owned by the pipeline's team, the source's publisher is metadata; a run queued
  behind a full pool says so, in the CLI and in the run's tags the UI shows;
* screenshots of the UI for the docs, taken with headless Chromium after ``odf materialize``: the
  asset graph, a partitioned asset with its checks, the automation page, a stale source (freshness
  and owner) and a run queued behind its full pool, with its tag saying why.

The screenshots are skipped without Chromium (``.ci/run`` installs it). ``ODF_UPDATE_SCREENSHOTS=1``
writes them to ``docs/images/`` (otherwise they are only checked), so the docs can be refreshed with
one command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
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
from tests.support.servers import SourceServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
PAGES = {
    # First while the pool is still held: the queued run's page shows it waiting.
    "queued-run.png": "runs",  # the runs list shows the queued run with its odf/queue_state tag
    "freshness-and-owner.png": "assets/raw/city_feed",
    "asset-graph.png": "locations/odf/asset-groups/sales",
    "partitioned-asset.png": "assets/sales/daily_sales_summary?view=partitions",
    "asset-checks.png": "assets/raw/iowa_liquor_sales?view=checks",
    "automation.png": "automation",
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The pool's holders stall their fetch past the module's end (odf dev's shutdown ends them), so a run
# launched by any test of the module stays queued.
POOL_HOLD_SECONDS = 1200

ASSETS = """
query { assetNodes { assetKey { path } owners { __typename ... on TeamAssetOwner { team }
  ... on UserAssetOwner { email } } metadataEntries { label ... on TextMetadataEntry { text } } } }"""

CANCEL = "mutation ($id: String!) { terminateRun(runId: $id) { __typename } }"


def chromium() -> str | None:
    return next(
        (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
    )


NO_CHROMIUM = "needs headless Chromium, which no PyPI package ships (apt-get install chromium)"


@dataclass
class Ui:
    workdir: Path
    env: dict[str, str]
    dev: OdfDev
    server: Webserver
    sources: SourceServer
    holders: list[str] = field(default_factory=list)

    def full_pool(self) -> list[str]:
        """The two runs holding both slots of pool odf_acquisition, launched by the first test that asks."""
        if not self.holders:
            self.holders = fill_the_acquisition_pool(
                self.workdir, self.env, self.server, self.sources, hold_seconds=POOL_HOLD_SECONDS
            )
        return self.holders


@pytest.fixture(scope="module")
def ui():
    workdir = Path(tempfile.mkdtemp(prefix="odf-dev-ui-"))
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(REPO / name, workdir / name)
    (workdir / "served").mkdir()
    sources = SourceServer(workdir / "served")
    serve_days(sources.root, [DAY])
    env = cli_env(workdir, sources.url, FRESHNESS_DAEMON_INTERVAL_SECONDS="1", ODF_QUEUE_STATE_INTERVAL_SECONDS="1")
    env["ODF_SOURCES"] = str(write_registry(workdir, [permits_source(sources.url), feed_source(sources.url)]))
    # Two weeks of the sample pipeline: the graph, partition and check pages show stored data.
    done = odf(workdir, env, "materialize", "--start", "2024-01-01", "--end", "2024-01-14")
    assert done.returncode == 0, done.stdout + done.stderr

    dev = OdfDev(workdir, free_port(), env)
    try:
        dev.start()
        yield Ui(workdir, env, dev, Webserver(dev.url), sources)
    finally:
        dev.stop()
        sources.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_stale_source_turns_red_and_back_and_every_asset_has_the_pipeline_owner(ui):
    server = ui.server
    nodes = server.execute(ASSETS)["assetNodes"]
    owners = {"/".join(n["assetKey"]["path"]): [o.get("team") or o.get("email") for o in n["owners"]] for n in nodes}
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

    arrived_days_ago(ui.dev.home, 3)
    assert wait_for_freshness(server, "DEGRADED") == "DEGRADED"

    done = odf(ui.workdir, ui.env, "materialize", "--select", "raw/city_feed", "--start", DAY, "--end", DAY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert wait_for_freshness(server, "HEALTHY") == "HEALTHY"


def test_a_run_queued_behind_a_full_pool_says_why(ui):
    """Two fetches that take their time fill pool odf_acquisition (limit 2 in dagster.yaml); a third
    run waits, and `trigger --wait`, `status` and the run's tag (set by the queued-run sensor in the
    daemon, read over GraphQL as the UI reads it) say for which pool and which runs."""
    server, holders = ui.server, ui.full_pool()

    queued_id, waited = launch(ui.workdir, ui.env, server.url, "2024-02-04", "--wait", "--timeout", "3")
    expected = "queued: waiting for pool odf_acquisition (2 of 2 slots in use by runs "
    line = next((line for line in waited.stdout.splitlines() if expected in line), None)
    assert line is not None, waited.stdout + waited.stderr
    assert {run_id.split("-")[0] for run_id in holders} == set(line.split("runs ", 1)[1].rstrip(")").split(", "))
    assert waited.returncode == 2 and "still QUEUED after 3s" in waited.stderr

    status = odf(ui.workdir, ui.env, "status", "--url", server.url, queued_id)
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


@pytest.mark.skipif(chromium() is None, reason=NO_CHROMIUM)
def test_docs_screenshots_from_a_real_odf_dev(ui):
    server = ui.server
    server.execute("mutation { setNuxSeen }")  # the first-visit newsletter dialog would cover the page
    # Stale again whatever an earlier test stored: the last recorded arrival is what freshness reads.
    arrived_days_ago(ui.dev.home, 3)
    assert wait_for_freshness(server, "DEGRADED") == "DEGRADED"
    ui.full_pool()
    queued = launch(ui.workdir, ui.env, server.url, "2024-02-05")[0]
    # The queued run's page shows why it waits: the sensor's tag, as `odf status` says it.
    assert (wait_for_tag(server, queued, QUEUE_STATE_TAG, timeout=40) or "").startswith("queued: waiting for pool")
    for name, page in PAGES.items():
        target = ui.workdir / name
        subprocess.run(
            [
                chromium(),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1440,900",
                "--virtual-time-budget=20000",
                f"--screenshot={target}",
                f"{ui.dev.url}/{page}",
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        data = target.read_bytes()
        # A blank or error page compresses to a few KB; a rendered Dagster page is far larger.
        assert data.startswith(PNG_SIGNATURE) and len(data) > 40_000, f"{name}: {len(data)} bytes"
        if os.environ.get("ODF_UPDATE_SCREENSHOTS") == "1":
            IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copy(target, IMAGES / name)
