"""End to end against a real ``dagster dev`` (webserver, daemon, code server) with storage on the
loopback S3 server and a source on a local HTTP server, registered through ODF_SOURCES:

(a) ``odf trigger`` one partition and wait for SUCCESS, then find its Parquet object in S3;
(b) drop a landing file on a storage without a model and see the landing sensor's run publish
    the model and predict, with no manual model step;
(c) a 30-day backfill through ``odf backfill``: every partition stored, in a handful of runs;
(d) a failing run reaches the alert webhook through the daemon's run-failure sensor;
(e) a run worker SIGKILLed mid-materialization: the run is marked failed, nothing partial is
    stored, and re-execution from failure succeeds;
(f) a backfill with one bad day: the published-days sensor runs the aggregate for the good days.

Invalid requests are refused by the tool before anything is launched. The backfills are launched
early (module fixtures: before the first test, and before test d) so the backfill daemon's
30-second loop overlaps the other tests.
"""

import contextlib
import io
import json
import shutil
import signal
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import boto3
import polars as pl
import psutil
import pytest
import requests

from odf_cli.main import main as odf
from tests.orchestration.dagster_dev import DagsterDev
from tests.orchestration.webhook import SECRET, Receiver
from tests.support.pipeline import write_registry
from tests.support.servers import SourceServer, clean_env, free_port, respond, stall

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]

RAW, AGG = "raw/e2e_shop", "aggregates/e2e_shop/by_shop"
TRIGGER_DAY, LANDING_DAY = "2024-02-10", "2024-01-05"
MISSING_DAY = "2024-03-20"  # not served: its fetch fails
KILL_DAY = "2024-02-20"  # served slowly the first time, so its run can be killed mid-fetch
PARTIAL_DAYS = ["2024-03-10", "2024-03-11", "2024-03-12", "2024-03-13"]  # one backfill, one bad day
PARTIAL_BAD = "2024-03-12"  # not served: its fetch fails
BACKFILL_DAYS = [(date(2024, 1, 1) + timedelta(days=i)).isoformat() for i in range(30)]
PREFIX = "odf"


def shop_source(url: str) -> dict:
    return {
        "name": "e2e_shop",
        "description": "Daily receipts of two shops (e2e test source).",
        "license": "CC0-1.0",
        "owner": "ODF tests",
        "group": "tests",
        "url_template": f"{url}/{{date}}.csv",
        "format": "csv",
        "schema": {"receipt": "string", "shop": "string", "amount": "float64"},
        "start_date": "2024-01-01",
        "end_date": "2024-03-31",
        "key": ["receipt"],
        "aggregates": [
            {
                "name": "by_shop",
                "group_by": ["shop"],
                "metrics": [{"agg": "sum", "column": "amount", "name": "revenue"}],
            }
        ],
    }


def day_frame(day: str) -> pl.DataFrame:
    n = date.fromisoformat(day).day % 4 + 2
    return pl.DataFrame(
        {
            "receipt": [f"{day}-{i}" for i in range(n)],
            "shop": ["north", "south"] * (n // 2) + ["north"] * (n % 2),
            "amount": [float(i + 1) for i in range(n)],
        }
    )


class Stack:
    def __init__(self, dev: DagsterDev, s3, bucket: str, webhook: Receiver):
        self.dev, self.s3, self.bucket, self.url, self.webhook = dev, s3, bucket, dev.url, webhook

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
        return response.json()["data"]

    def runs(self, **tags: str) -> list[dict]:
        query = (
            "query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) "
            "{ ... on Runs { results { runId status tags { key value } } } } }"
        )
        return self.graphql(query, {"tags": [{"key": k, "value": v} for k, v in tags.items()]})["runsOrError"][
            "results"
        ]

    def parquet(self, *path: str) -> pl.DataFrame:
        body = self.s3.get_object(Bucket=self.bucket, Key="/".join((PREFIX, *path, "data.parquet")))["Body"].read()
        return pl.read_parquet(io.BytesIO(body))

    def keys(self, prefix: str) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{PREFIX}/{prefix}")
        return {item["Key"] for page in pages for item in page.get("Contents", [])}


@pytest.fixture(scope="module")
def stack(moto_server):
    workdir = Path(tempfile.mkdtemp(prefix="odf-e2e-"))
    (workdir / "served").mkdir()
    for day in {*BACKFILL_DAYS, TRIGGER_DAY, KILL_DAY, *(set(PARTIAL_DAYS) - {PARTIAL_BAD})}:
        day_frame(day).write_csv(workdir / "served" / f"{day}.csv")
    sources = SourceServer(workdir / "served")
    webhook = Receiver()
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="odf-test",
        aws_secret_access_key="odf-test-secret",
    )
    bucket = f"odf-e2e-{free_port()}"
    s3.create_bucket(Bucket=bucket)
    env = clean_env(
        **moto_server.env(),
        ODF_STORAGE=f"s3://{bucket}/{PREFIX}",
        ODF_SOURCES=str(write_registry(workdir, [shop_source(sources.url)])),
        ODF_ALLOWED_HOSTS="127.0.0.1",  # loopback sources are default-deny unless named
        ODF_LANDING_SENSOR_INTERVAL_SECONDS="1",
        ODF_SENSOR_MIN_INTERVAL_SECONDS="1",
        ODF_RETRY_DELAY_SECONDS="0",
        ODF_ALERT_WEBHOOK_URL=webhook.url,
        # Each run's steps in the run's own process: a process per step (Dagster's default executor)
        # costs a Python start with Dagster's imports per step, which dominated this file's runs on a
        # busy machine. The default executor under a daemon-launched run stays covered by
        # tests/operator/test_shared_instance.py (odf dev: trigger --wait, re-execution).
        ODF_STEP_EXECUTOR="in_process",
    )
    dev = DagsterDev(workdir / "dagster_home", free_port(), env)
    try:
        dev.start()
        stack = Stack(dev, s3, bucket, webhook)
        stack.sources = sources
        yield stack
    finally:
        dev.stop()
        sources.stop()
        webhook.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    assert dev.exited_on_sigint and dev.leftovers == 0, (
        f"dagster dev did not shut down on SIGINT: {dev.leftover_details}\n{dev.log_tail()}"
    )


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = odf(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def backfill_id(stack):
    """Launched before the other tests run, so the daemon's backfill loop overlaps them."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            odf(
                [
                    "backfill",
                    "--asset",
                    f"{RAW},{AGG}",
                    "--start",
                    BACKFILL_DAYS[0],
                    "--end",
                    BACKFILL_DAYS[-1],
                    "--url",
                    stack.url,
                ]
            )
            == 0
        )
    text = out.getvalue()
    assert f"30 partitions of {RAW}, {AGG}" in text
    return text.split("launched backfill ", 1)[1].split(":", 1)[0]


@pytest.fixture(scope="module")
def partial_backfill_id(stack, backfill_id):
    """A range with one bad day (test f), launched once the 30-day backfill is done (test c) so it
    overlaps tests d and e without holding both acquisition slots while test a's run waits."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = odf(
            ["backfill", "--asset", f"{RAW},{AGG}", "--start", PARTIAL_DAYS[0], "--end", PARTIAL_DAYS[-1]]
            + ["--url", stack.url]
        )
    assert status == 0, out.getvalue()
    return out.getvalue().split("launched backfill ", 1)[1].split(":", 1)[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["trigger", "--asset", "raw/e2e_shp", "--date", "2024-01-03"],
            "unknown asset 'raw/e2e_shp' at {url}; did you mean raw/e2e_shop",
        ),
        (
            ["trigger", "--asset", RAW, "--date", "2999-01-01"],
            "2999-01-01 is in the future; a day becomes a partition once it has closed: "
            "raw/e2e_shop has partitions 2024-01-01..2024-03-31",
        ),
        (
            ["trigger", "--asset", RAW, "--date", "2023-12-31"],
            "2023-12-31 is outside the asset's partitions: raw/e2e_shop has partitions 2024-01-01..2024-03-31",
        ),
        (["trigger", "--asset", RAW], "raw/e2e_shop is partitioned (Daily, starting 2024-01-01 UTC"),
        (
            ["trigger", "--asset", "predictions/iris_model", "--date", "2024-01-03"],
            "predictions/iris_model is not partitioned: leave out --date",
        ),
        (
            ["trigger", "--asset", f"{RAW},sales/weekly_sales", "--date", "2024-03-04"],
            "the selected assets are partitioned differently",
        ),
        (
            ["backfill", "--asset", RAW, "--start", "2024-03-01", "--end", "2024-04-30"],
            "2024-04-30 is outside the asset's partitions",
        ),
        (["results", "--asset", AGG, "--date", "2024-06-01"], "2024-06-01 is outside the asset's partitions"),
    ],
    ids=[
        "unknown-asset",
        "future-date",
        "before-start",
        "missing-date",
        "unpartitioned-with-date",
        "mixed-partitioning",
        "backfill-past-end",
        "results-bad-date",
    ],
)
def test_invalid_requests_are_refused_before_launching(stack, backfill_id, capsys, args, message):
    status, out, err = cli(capsys, *args, "--url", stack.url)
    assert status == 2 and out == ""
    assert message.format(url=stack.url) in err and err.count("\n") == 1
    for bad_day in ("2999-01-01", "2023-12-31", "2024-03-04"):
        assert stack.runs(**{"dagster/partition": bad_day}) == []


def test_the_instance_limits_runs_per_pool(stack):
    instance = stack.graphql(
        "{ instance { runQueueConfig { maxConcurrentRuns } poolConfig { poolGranularity defaultPoolLimit } } }"
    )["instance"]
    assert instance["poolConfig"]["poolGranularity"] == "run"
    # A burst in one pool (acquisition or aggregation) leaves room for the other.
    assert instance["poolConfig"]["defaultPoolLimit"] < instance["runQueueConfig"]["maxConcurrentRuns"]


def test_a_trigger_one_partition_and_read_its_parquet(stack, backfill_id, capsys):
    status, out, _ = cli(
        capsys,
        "trigger",
        "--asset",
        f"{RAW},{AGG}",
        "--date",
        TRIGGER_DAY,
        "--wait",
        "--timeout",
        "240",
        "--url",
        stack.url,
    )
    assert status == 0, out + stack.dev.log_tail()
    assert "SUCCESS" in out and f"partition {TRIGGER_DAY}  queue acquisition" in out
    raw = stack.parquet("raw", "e2e_shop", f"date={TRIGGER_DAY}")
    assert raw.drop("date").sort("receipt").equals(day_frame(TRIGGER_DAY).sort("receipt"))
    expected = day_frame(TRIGGER_DAY).group_by("shop").agg(pl.col("amount").sum().alias("revenue")).sort("shop")
    assert (
        stack.parquet("aggregates", "e2e_shop", "by_shop", f"date={TRIGGER_DAY}")
        .sort("shop")
        .select("shop", "revenue")
        .equals(expected)
    )

    status, out, _ = cli(capsys, "results", "--asset", f"{RAW},{AGG}", "--date", TRIGGER_DAY, "--url", stack.url)
    assert status == 0
    assert f"s3://{stack.bucket}/{PREFIX}/raw/e2e_shop/date={TRIGGER_DAY}/data.parquet" in out
    assert f"s3://{stack.bucket}/{PREFIX}/aggregates/e2e_shop/by_shop/date={TRIGGER_DAY}/data.parquet" in out
    run_id = out.split("(run ", 1)[1].split(")", 1)[0]
    status, out, _ = cli(capsys, "status", run_id, "--url", stack.url)
    assert status == 0 and out.startswith(f"run {run_id}: SUCCESS")


def test_b_landing_file_runs_the_sensor_launched_predictions(stack, backfill_id, capsys):
    # From an empty storage: no model step; the first predictions run publishes the model itself.
    assert "Contents" not in stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"{PREFIX}/predictions/iris_model/")
    items = [
        {"id": "a", "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
        {"id": "b", "sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3},
    ]
    body = "".join(json.dumps(item) + "\n" for item in items).encode()
    stack.s3.put_object(Bucket=stack.bucket, Key=f"{PREFIX}/landing/iris/date={LANDING_DAY}/x.jsonl", Body=body)
    deadline = time.monotonic() + 240
    runs = []
    while time.monotonic() < deadline:
        runs = stack.runs(**{"dagster/sensor_name": "iris_landing_sensor"})
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    assert [run["status"] for run in runs] == ["SUCCESS"], stack.dev.log_tail()
    assert {"key": "dagster/partition", "value": LANDING_DAY} in runs[0]["tags"]
    predictions = stack.parquet("predictions", "iris_predictions", f"date={LANDING_DAY}")
    assert sorted(predictions["id"]) == ["a", "b"]
    assert dict(zip(predictions["id"], predictions["predicted_label"], strict=True)) == {
        "a": "setosa",
        "b": "virginica",
    }
    stack.s3.head_object(Bucket=stack.bucket, Key=f"{PREFIX}/predictions/iris_model/model_card.json")


def test_c_thirty_day_backfill_takes_a_handful_of_runs(stack, backfill_id, capsys):
    status, out, _ = cli(capsys, "status", backfill_id, "--wait", "--timeout", "300", "--url", stack.url)
    assert status == 0, out + stack.dev.log_tail()
    assert f"backfill {backfill_id}: COMPLETED_SUCCESS  (30 partitions" in out
    assert f"{RAW:<45} materialized 30/30  failed 0" in out and f"{AGG:<45} materialized 30/30  failed 0" in out
    runs = stack.runs(**{"dagster/backfill": backfill_id})
    assert 1 <= len(runs) <= 3, runs  # BackfillPolicy.single_run(): raw and aggregate share one run
    assert all({"key": "odf/queue", "value": "acquisition"} in run["tags"] for run in runs)
    for asset in (("raw", "e2e_shop"), ("aggregates", "e2e_shop", "by_shop")):
        # Test f's backfill stores March days beside these.
        stored = {key for key in stack.keys("/".join(asset) + "/") if not any(d in key for d in PARTIAL_DAYS)}
        assert stored == {"/".join((PREFIX, *asset, f"date={day}", "data.parquet")) for day in BACKFILL_DAYS} | (
            {"/".join((PREFIX, *asset, f"date={TRIGGER_DAY}", "data.parquet"))}
        )
    assert (
        stack.parquet("raw", "e2e_shop", "date=2024-01-17")
        .drop("date")
        .sort("receipt")
        .equals(day_frame("2024-01-17").sort("receipt"))
    )
    # Range runs check each day: one evaluation per check per day, each with its partition.
    run_ids = {run["runId"] for run in runs}
    query = """query($key: AssetKeyInput!, $check: String!) {
      assetCheckExecutions(assetKey: $key, checkName: $check, limit: 500) { runId partition status }
    }"""
    for asset, names in (
        (RAW, ("data_contract", "data_quality")),
        (AGG, ("data_contract",)),
    ):
        for name in names:
            executions = stack.graphql(query, {"key": {"path": asset.split("/")}, "check": name})[
                "assetCheckExecutions"
            ]
            in_backfill = [e for e in executions if e["runId"] in run_ids]
            assert sorted(e["partition"] for e in in_backfill) == BACKFILL_DAYS, (asset, name, in_backfill[:3])
            assert {e["status"] for e in in_backfill} == {"SUCCEEDED"}


def test_d_a_failed_run_is_posted_to_the_alert_webhook(stack, partial_backfill_id, capsys):
    status, out, _ = cli(
        capsys, "trigger", "--asset", RAW, "--date", MISSING_DAY, "--wait", "--timeout", "240", "--url", stack.url
    )
    assert status == 1 and "FAILURE" in out
    run_id = out.split("launched run ", 1)[1].split(" ", 1)[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(post["json"]["run_id"] == run_id for post in stack.webhook.posts):
        time.sleep(0.5)
    [payload] = [post["json"] for post in stack.webhook.posts if post["json"]["run_id"] == run_id]
    assert (
        payload["job"] == "__ASSET_JOB" and payload["partition"] == MISSING_DAY and payload["step"] == "raw__e2e_shop"
    )
    assert f"{MISSING_DAY}.csv" in payload["error"] and SECRET not in json.dumps(payload)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tags = {t["key"]: t["value"] for run in stack.runs(**{"dagster/partition": MISSING_DAY}) for t in run["tags"]}
        if tags.get("odf/alert"):
            break
        time.sleep(0.5)
    assert tags.get("odf/alert") == "webhook sent"


def run_worker_fetching(sources, path: str, earlier_requests: int) -> psutil.Process | None:
    """The run worker whose run (or step child) holds the connection of the first request for
    ``path`` after ``earlier_requests``. Other runs (the partial backfill) fetch from the same server
    meanwhile, so the connection is named by its client port, not just by the server's."""
    clients = sources.clients.get(path, [])[earlier_requests:]
    if not clients:
        return None
    client_port, server_port = clients[0][1], int(sources.url.rsplit(":", 1)[1])
    for process in psutil.process_iter(["pid"]):
        try:
            connections = process.net_connections(kind="tcp")
            if any(c.laddr.port == client_port and c.raddr and c.raddr.port == server_port for c in connections):
                # Walk up to the process the code server started for the run.
                while process.parent() and "grpc" not in " ".join(process.parent().cmdline()):
                    process = process.parent()
                return process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def wait_for_status(stack, run_id: str, statuses: set[str], timeout: float = 180) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline, status = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        status = stack.graphql(query, {"id": run_id})["runOrError"].get("status")
        if status in statuses:
            return status
        time.sleep(0.5)
    return status


def test_e_sigkilled_run_worker_fails_the_run_and_reexecution_recovers(stack, capsys):
    served = stack.sources.root / f"{KILL_DAY}.csv"
    stack.sources.script(f"/{KILL_DAY}.csv", stall(25, served.read_bytes()), respond(200, served.read_bytes()))
    earlier_requests = len(stack.sources.clients.get(f"/{KILL_DAY}.csv", []))
    status, out, _ = cli(capsys, "trigger", "--asset", RAW, "--date", KILL_DAY, "--url", stack.url)
    assert status == 0, out
    run_id = out.split("launched run ", 1)[1].split(" ", 1)[0]
    deadline, worker = time.monotonic() + 90, None
    while time.monotonic() < deadline and worker is None:
        worker = run_worker_fetching(stack.sources, f"/{KILL_DAY}.csv", earlier_requests)
        time.sleep(0.2)
    assert worker is not None, "the run never started fetching\n" + stack.dev.log_tail()
    for process in [*worker.children(recursive=True), worker]:
        process.send_signal(signal.SIGKILL)
    assert wait_for_status(stack, run_id, {"FAILURE", "SUCCESS", "CANCELED"}) == "FAILURE", stack.dev.log_tail()
    assert not any(KILL_DAY in key for key in stack.keys("raw/e2e_shop/")), "nothing partial was published"
    relaunch = stack.graphql(
        """mutation($id: String!) {
             launchRunReexecution(reexecutionParams: {parentRunId: $id, strategy: FROM_FAILURE}) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {"id": run_id},
    )["launchRunReexecution"]
    assert relaunch["__typename"] == "LaunchRunSuccess", relaunch
    assert wait_for_status(stack, relaunch["run"]["runId"], {"SUCCESS", "FAILURE", "CANCELED"}) == "SUCCESS", (
        stack.dev.log_tail()
    )
    stored = stack.parquet("raw", "e2e_shop", f"date={KILL_DAY}")
    assert stored.drop("date").sort("receipt").equals(day_frame(KILL_DAY).sort("receipt"))


def test_f_a_backfill_with_one_bad_day_gets_the_downstream_of_its_good_days(stack, partial_backfill_id, capsys):
    """Issue 20: the backfill's range run publishes the good days and fails the bad one, so Dagster
    skips the aggregate for all of them; the daemon's published-days sensor then runs the
    aggregate for the good days in the ingest job of the source's days and names the skipped day on the run."""
    status, out, _ = cli(capsys, "status", partial_backfill_id, "--wait", "--timeout", "300", "--url", stack.url)
    assert status == 1 and "COMPLETED_FAILED" in out, out + stack.dev.log_tail()
    [failed] = stack.runs(**{"dagster/backfill": partial_backfill_id})
    deadline, follow_ups = time.monotonic() + 180, []
    while time.monotonic() < deadline:
        follow_ups = stack.runs(**{"odf/follows_run": failed["runId"]})
        if len(follow_ups) == 2 and all(run["status"] in ("SUCCESS", "FAILURE") for run in follow_ups):
            break
        time.sleep(1)
    assert sorted(run["status"] for run in follow_ups) == ["SUCCESS", "SUCCESS"], follow_ups or stack.dev.log_tail()
    for run in follow_ups:
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        assert tags["odf/skipped_days"] == PARTIAL_BAD and tags["dagster/sensor_name"] == "odf_published_days_sensor"
    aggregates = stack.keys(f"{AGG}/")
    stored = {day for day in PARTIAL_DAYS if f"{PREFIX}/{AGG}/date={day}/data.parquet" in aggregates}
    assert stored == set(PARTIAL_DAYS) - {PARTIAL_BAD}
    failed_tags = {
        tag["key"]: tag["value"]
        for run in stack.runs(**{"dagster/backfill": partial_backfill_id})
        for tag in run["tags"]
    }
    assert failed_tags["odf/skipped_downstream"] == f"{PARTIAL_BAD}: {AGG} ({RAW} failed that day)"
    # The follow-up runs in the ingest job of e2e_shop's days (shared with the sample's).
    ingest = "ingest_daily_from_20240101_to_20240331"
    assert failed_tags["odf/follow_up"].startswith(f"{ingest}: {AGG} for 3 published day(s)")
