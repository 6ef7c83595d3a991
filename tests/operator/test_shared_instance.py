"""One local instance: what ``odf materialize`` ran is what ``odf dev``'s UI and GraphQL show, and the
remote commands read it (results, trigger --wait with progress, status of a failed run and its retry)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from odf_cli.graphql import Webserver
from tests.operator.cli_support import cli_env, odf, serve_days
from tests.operator.dev_support import OdfDev
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]

RUNS = """
query { runsOrError(filter: {tags: [{key: "odf/launched_by", value: "odf-cli"}]}) {
  ... on Runs { results { runId status } } } }"""
PARTITIONS = """
query { assetNodes(assetKeys: [{path: ["raw", "city_permits"]}]) { partitionStats { numMaterialized } } }"""
REEXECUTE = """
mutation ($id: String!) { launchRunReexecution(reexecutionParams: {parentRunId: $id, strategy: ALL_STEPS}) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def test_cli_runs_show_in_odf_dev_and_remote_commands_explain_failures(tmp_path, source_server):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    serve_days(source_server.root, ["2024-02-01", "2024-02-02"])
    env = cli_env(tmp_path, source_server.url, ODF_LANDING_SENSOR_INTERVAL_SECONDS="1")
    done = odf(
        tmp_path, env, "materialize", "--select", "raw/city_permits", "--start", "2024-02-01", "--end", "2024-02-02"
    )
    assert done.returncode == 0, done.stdout + done.stderr

    dev = OdfDev(tmp_path, free_port(), env)
    try:
        dev.start()
        server = Webserver(dev.url)
        runs = server.execute(RUNS)["runsOrError"]["results"]
        assert [run["status"] for run in runs] == ["SUCCESS"]
        assert server.execute(PARTITIONS)["assetNodes"][0]["partitionStats"]["numMaterialized"] == 2

        results = odf(tmp_path, env, "results", "--url", dev.url, "--asset", "raw/city_permits", "--date", "2024-02-02")
        assert (
            results.returncode == 0
            and "date=2024-02-02/data.parquet" in results.stdout
            and runs[0]["runId"] in results.stdout
        )

        # 2024-02-05 has no file (HTTP 404): the run fails; --wait shows the step and the reason as they happen.
        trigger = odf(
            tmp_path, env, "trigger", "--url", dev.url, "--asset", "raw/city_permits", "--date", "2024-02-05", "--wait"
        )
        assert trigger.returncode == 1, trigger.stdout + trigger.stderr
        assert "✗ raw/city_permits" in trigger.stdout and "Summary:" in trigger.stdout
        failed_id = trigger.stdout.split("launched run ", 1)[1].split()[0]

        assert "Checking for new runs for sensor" not in dev.log_path.read_text(), (
            "sensor ticks are not shown by default"
        )
        # odf dev starts `dg dev`, Dagster's current command: no "superseded, use dg dev" warning.
        assert "superseded" not in dev.log_path.read_text().lower()

        retry = server.execute(REEXECUTE, {"id": failed_id})["launchRunReexecution"]
        assert retry["__typename"] == "LaunchRunSuccess", retry
        status = odf(tmp_path, env, "status", "--url", dev.url, failed_id)
        assert status.returncode == 1
        lines = status.stdout.splitlines()
        failed_step = next(line for line in lines if line.strip().startswith("failed step raw/city_permits:"))
        assert "2024-02-05" in failed_step and "Traceback" not in status.stdout, status.stdout
        assert any(f"retried by run {retry['run']['runId']}" in line for line in lines), status.stdout
    finally:
        dev.stop()
    assert dev.exited_on_sigint, dev.log_tail()
