"""Screenshots of the UI for the docs, taken with headless Chromium from a real ``odf dev`` after
``odf materialize``: the asset graph, a partitioned asset with its checks, the automation page, a
stale source (freshness and owner) and a run queued behind its full pool, with its tag saying why.

Skipped without Chromium (``.ci/run`` installs it). ``ODF_UPDATE_SCREENSHOTS=1`` writes them to
``docs/images/`` (otherwise they are only checked), so the docs can be refreshed with one command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from odf_cli.graphql import Webserver
from odf_resources.run_tags import QUEUE_STATE_TAG
from tests.operator.cli_support import odf, permits_source
from tests.operator.dev_support import OdfDev
from tests.operator.ui_support import (
    arrived_days_ago,
    feed_source,
    fill_the_acquisition_pool,
    launch,
    wait_for_freshness,
    wait_for_tag,
)
from tests.support.pipeline import write_registry
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(600)
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


def chromium() -> str | None:
    return next(
        (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
    )


NO_CHROMIUM = "needs headless Chromium, which no PyPI package ships (apt-get install chromium)"


@pytest.mark.skipif(chromium() is None, reason=NO_CHROMIUM)
def test_docs_screenshots_from_a_real_odf_dev(tmp_path, source_server):
    for name in ("dagster.yaml", "workspace.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ODF_", "DAGSTER_HOME"))}
    registry = write_registry(tmp_path, [permits_source(source_server.url), feed_source(source_server.url)])
    env.update(
        ODF_SOURCES=str(registry),
        ODF_ALLOWED_HOSTS="127.0.0.1",
        FRESHNESS_DAEMON_INTERVAL_SECONDS="1",
        ODF_QUEUE_STATE_INTERVAL_SECONDS="1",
    )
    done = odf(tmp_path, env, "materialize", "--start", "2024-01-01", "--end", "2024-01-14")
    assert done.returncode == 0, done.stdout + done.stderr

    dev = OdfDev(tmp_path, free_port(), env)
    try:
        dev.start()
        server = Webserver(dev.url)
        server.execute("mutation { setNuxSeen }")  # the first-visit newsletter dialog would cover the page
        arrived_days_ago(dev.home, 3)
        assert wait_for_freshness(server, "DEGRADED") == "DEGRADED"
        fill_the_acquisition_pool(tmp_path, env, server, source_server, hold_seconds=90)
        queued = launch(tmp_path, env, server.url, "2024-02-04")[0]
        # The queued run's page shows why it waits: the sensor's tag, as `odf status` says it.
        assert (wait_for_tag(server, queued, QUEUE_STATE_TAG, timeout=40) or "").startswith("queued: waiting for pool")
        for name, page in PAGES.items():
            page = page.format(queued=queued)
            target = tmp_path / name
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
                    f"{dev.url}/{page}",
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
    finally:
        dev.stop()
