"""The Kubernetes launch path, executed end to end on loopback (deploy/k8s_stack.py): real
PostgreSQL, the real daemon and webserver, ODF's code server, deploy/dagster.yaml, and a Kubernetes
API that runs the Jobs dagster-k8s creates. Runs are launched the way the UI, a backfill and
`odf trigger` launch them; every Job created passes strict schema validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import boto3
import kubernetes
import pytest

from odf_assets.k8s_config import HEAVY_CONTAINER_RESOURCES
from odf_resources.constants import ACQUISITION_POOL
from tests.deploy.deploy_config import HELM_VALUES, NAMESPACE, load_yaml, validate_strict
from tests.deploy.k8s_stack import BIN, IMAGE, START_TIMEOUT_SECONDS, K8sStack
from tests.deploy.pod_security import job_pod_spec, restricted_violations
from tests.lineage.collector import LineageCollector

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
RAW = ["raw", "iowa_liquor_sales"]
RAW_STEP = "raw__iowa_liquor_sales"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH_RUN = """mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } } } }"""
LAUNCH_BACKFILL = """mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
SET_POOL_LIMIT = (
    "mutation SetConcurrencyLimit($key: String!, $limit: Int!) "
    "{ setConcurrencyLimit(concurrencyKey: $key, limit: $limit) }"
)
RUNS = """query Runs {
  runsOrError(filter: {}) { ... on Runs { results { runId status tags { key value } assetSelection { path } } } }
}"""


@pytest.fixture(scope="module")
def stack(postgres_cluster, moto_server, tmp_path_factory):
    moto_env = moto_server.env()
    s3 = boto3.client(
        "s3",
        **{
            "endpoint_url": moto_env["AWS_ENDPOINT_URL"],
            "region_name": moto_env.get("AWS_DEFAULT_REGION", "us-east-1"),
            "aws_access_key_id": moto_env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": moto_env["AWS_SECRET_ACCESS_KEY"],
        },
    )
    data, logs = f"odf-e2e-{uuid.uuid4().hex[:8]}", f"odf-e2e-logs-{uuid.uuid4().hex[:8]}"
    for bucket in (data, logs):
        s3.create_bucket(Bucket=bucket)
    lineage = LineageCollector()
    running = K8sStack(tmp_path_factory.mktemp("k8s"), postgres_cluster, moto_env, data, logs, lineage.url)
    try:
        running.start()
        running.s3, running.data_bucket, running.lineage = s3, data, lineage
        yield running
    finally:
        running.stop()
        lineage.stop()


def ui_materialize(stack: K8sStack, day: str, extra_tags: dict[str, str] | None = None) -> str:
    """What the UI's Materialize button sends for one partition of the raw asset (plus tags an
    operator adds in the launchpad)."""
    run_tags = {"dagster/partition": day, **(extra_tags or {})}
    params = {
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": key, "value": value} for key, value in run_tags.items()]},
        "selector": {
            "repositoryLocationName": "odf",
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": RAW}],
        },
    }
    result = stack.graphql(LAUNCH_RUN, {"executionParams": params})["launchPipelineExecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def runs(stack: K8sStack) -> dict[str, dict]:
    return {run["runId"]: run for run in stack.graphql(RUNS)["runsOrError"]["results"]}


def tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def wait_for(predicate, timeout: float, what: str, stack: K8sStack, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; daemon log: {stack.log('daemon')[-3000:]}")


def step_job(stack: K8sStack, run_id: str) -> dict | None:
    job = stack.api.job_for_run(run_id, component="step_worker")
    return job.body if job else None


def raw_run(run: dict, days: list[str]) -> bool:
    """A run of the raw asset for one of ``days``: not the downstream runs automation adds for them."""
    return partition(run) in days and RAW in [key["path"] for key in run.get("assetSelection") or []]


def partition(run: dict) -> str | None:
    """The run's partition: a single key, or the start of a backfill's range."""
    run_tags = tags(run)
    return run_tags.get("dagster/partition") or run_tags.get("dagster/asset_partition_range_start")


def assert_pods_as_a_cluster_runs_them(stack: K8sStack) -> None:
    """Every Job created is schema-valid and restricted; admission refused none; no pod wrote to its
    read-only root; step pods run as the step account without an API token."""
    for body in stack.api.created:
        validate_strict(body)
        pod = job_pod_spec(body)
        assert restricted_violations(pod, body["metadata"]["name"]) == []
        if body["metadata"]["labels"].get("app.kubernetes.io/component") == "step_worker":
            assert pod["serviceAccountName"] == "odf-step" and pod["automountServiceAccountToken"] is False
        else:
            assert pod["serviceAccountName"] == "odf-run"
    assert stack.api.rejected == []
    assert stack.api.root_writes() == {}


def failure_message(stack: K8sStack, run_id: str) -> str:
    query = (
        f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ eventConnection {{ events {{ __typename '
        "... on RunFailureEvent { message } } } } } }"
    )
    events = stack.graphql(query)["runOrError"]["eventConnection"]["events"]
    return "\n".join(event["message"] for event in events if event["__typename"] == "RunFailureEvent")


def assert_right_sized(stack: K8sStack, run_id: str) -> None:
    """A run-worker Job of the default size and a step Job for the raw asset with the heavy resources."""
    worker, step = stack.api.job_for_run(run_id), step_job(stack, run_id)
    assert worker is not None and step is not None, f"{run_id}: no run or step Job"
    step_container = step["spec"]["template"]["spec"]["containers"][0]
    assert step_container["resources"] == HEAVY_CONTAINER_RESOURCES
    assert step_container["image"] == IMAGE
    assert {"name": "DAGSTER_RUN_STEP_KEY", "value": RAW_STEP} in step_container["env"]
    assert worker.body["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "4Gi"


@pytest.mark.timeout(360)
def test_trigger_and_backfill_runs_queue_per_pool_and_run_as_valid_right_sized_jobs(stack):
    """Pool odf_acquisition limited to 1 (as an operator sets it in the UI): a run from `odf trigger`
    and one from a backfill run one after the other, each as a run-worker Job plus a step Job for
    the raw asset with the heavy resources, both SUCCESS in Postgres with their Parquet in S3."""
    # Limit 0 first, so both runs are queued together whatever the daemon's timing; then 1.
    assert stack.graphql(SET_POOL_LIMIT, {"key": ACQUISITION_POOL, "limit": 0})["setConcurrencyLimit"] is True
    days = ["2024-01-02", "2024-01-03"]
    trigger = subprocess.run(
        [str(BIN / "odf"), "trigger", "--url", stack.url, "--asset", "raw/iowa_liquor_sales", "--date", days[0]],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert trigger.returncode == 0, trigger.stderr
    backfill = stack.graphql(
        LAUNCH_BACKFILL,
        {"backfillParams": {"assetSelection": [{"path": RAW}], "partitionNames": [days[1]], "fromFailure": False}},
    )
    assert backfill["launchPartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", backfill

    def both_queued():
        ours = [run for run in runs(stack).values() if raw_run(run, days)]
        return len(ours) == 2 and all(run["status"] == "QUEUED" for run in ours)

    wait_for(both_queued, 60, "both runs to wait in the queue", stack)
    time.sleep(3)  # several dequeue passes: nothing may start while the pool has no slot
    assert both_queued(), "a run started although its pool had no free slot"
    assert stack.graphql(SET_POOL_LIMIT, {"key": ACQUISITION_POOL, "limit": 1})["setConcurrencyLimit"] is True
    most_in_progress, saw_queued_behind = 0, False

    def all_done():
        nonlocal most_in_progress, saw_queued_behind
        ours = {run_id: run for run_id, run in runs(stack).items() if raw_run(run, days)}
        in_progress = [run for run in ours.values() if run["status"] in ("STARTING", "STARTED")]
        most_in_progress = max(most_in_progress, len(in_progress))
        saw_queued_behind |= bool(in_progress) and any(run["status"] == "QUEUED" for run in ours.values())
        return ours if len(ours) == 2 and all(run["status"] in TERMINAL for run in ours.values()) else None

    ours = wait_for(all_done, 180, "both runs to finish", stack)
    assert {run["status"] for run in ours.values()} == {"SUCCESS"}, {r["runId"]: r["status"] for r in ours.values()}
    assert most_in_progress == 1 and saw_queued_behind, "the pool limit of 1 did not hold"
    assert {partition(run) for run in ours.values()} == set(days)
    assert sorted("dagster/backfill" in tags(run) for run in ours.values()) == [False, True]
    assert any(tags(run).get("odf/launched_by") == "odf-cli" for run in ours.values())
    for run_id in ours:
        assert_right_sized(stack, run_id)
    assert_pods_as_a_cluster_runs_them(stack)
    assert not stack.api.unexpected, stack.api.unexpected
    # The daemon's liveness probe (helm/values.yaml), run with a pod's environment: healthy.
    probe = load_yaml(HELM_VALUES)["dagsterDaemon"]["livenessProbe"]["exec"]["command"]
    alive = subprocess.run(
        [str(BIN / probe[0]), *probe[1:]], env=stack.env, cwd=stack.root, capture_output=True, text=True, timeout=120
    )
    assert alive.returncode == 0 and "Daemon live" in alive.stdout, alive.stdout + alive.stderr
    stored = {
        item["Key"]
        for item in stack.s3.list_objects_v2(Bucket=stack.data_bucket, Prefix="odf/raw/").get("Contents", [])
    }
    assert {f"odf/raw/iowa_liquor_sales/date={day}/data.parquet" for day in days} <= stored
    assert stack.graphql(SET_POOL_LIMIT, {"key": ACQUISITION_POOL, "limit": 4})["setConcurrencyLimit"] is True


@pytest.mark.timeout(420)
def test_killed_run_pod_is_failed_and_retried_and_a_deleted_job_fails_cleanly(stack):
    """Two runs launched as the UI's Materialize button does. One run's pods are SIGKILLed (node
    loss): run monitoring marks the run failed and a run retry succeeds. The other's Job is deleted mid-run
    (kubectl delete job): the run ends FAILURE and none of its pods keeps running."""
    killed_id, deleted_id = ui_materialize(stack, "2024-01-05"), ui_materialize(stack, "2024-01-06")
    killed = wait_for(lambda: stack.api.job_for_run(killed_id), 120, "the run worker Job", stack)
    deleted = wait_for(lambda: stack.api.job_for_run(deleted_id), 120, "the run worker Job", stack)
    wait_for(
        lambda: {runs(stack)[killed_id]["status"], runs(stack)[deleted_id]["status"]} == {"STARTED"},
        120,
        "both runs to start",
        stack,
    )
    # Mid-run: each run's step pod is up (the UI's launch path sizes it like the others).
    wait_for(lambda: step_job(stack, killed_id) and step_job(stack, deleted_id), 60, "both step Jobs", stack)
    assert_right_sized(stack, killed_id)
    assert_right_sized(stack, deleted_id)
    # The node is lost: the run pod and its step pod die without a word. (Killing the run pod alone
    # races with its step: a step that finishes first leaves Dagster nothing to retry, correctly.)
    killed_step = stack.api.job_for_run(killed_id, component="step_worker")
    os.killpg(killed_step.process.pid, signal.SIGKILL)
    os.killpg(killed.process.pid, signal.SIGKILL)
    client = kubernetes.config.new_client_from_config(config_file=str(stack.root / "kubeconfig"))
    kubernetes.client.BatchV1Api(client).delete_namespaced_job(deleted.name, NAMESPACE, propagation_policy="Foreground")

    def retry_of(run_id):
        return next((run for run in runs(stack).values() if tags(run).get("dagster/parent_run_id") == run_id), None)

    wait_for(lambda: runs(stack)[killed_id]["status"] == "FAILURE", 60, "run monitoring to fail the killed run", stack)
    # The daemon's run-retry loop polls on its own interval, slower when the machine is busy.
    retried = wait_for(lambda: retry_of(killed_id), 150, "the run retry", stack)
    status = wait_for(
        lambda: runs(stack)[deleted_id]["status"] in TERMINAL and runs(stack)[deleted_id]["status"],
        90,
        "the deleted run to end",
        stack,
    )
    assert status == "FAILURE"
    assert deleted.process.poll() is not None
    step = stack.api.job_for_run(deleted_id, component="step_worker")
    if step is not None:  # the run worker deleted its step Job on the way out, or the step pod ends
        wait_for(lambda: step.process.poll() is not None, 60, "the deleted run's step pod to stop", stack)
    events = json.dumps(
        stack.graphql(
            f'{{ runOrError(runId: "{deleted_id}") '
            "{ ... on Run { eventConnection { events { __typename } } } } }"
        )
    )
    assert "RunFailureEvent" in events

    final = wait_for(
        lambda: runs(stack)[retried["runId"]]["status"] in TERMINAL and runs(stack)[retried["runId"]],
        150,
        "the retry to finish",
        stack,
    )
    assert final["status"] == "SUCCESS", failure_message(stack, retried["runId"])
    assert tags(final)["dagster/retry_number"] == "1"
    assert_right_sized(stack, retried["runId"])
    assert_pods_as_a_cluster_runs_them(stack)
    # A SIGKILL is exit code 137 with reason Error: OOMKilled is kept for pods over their memory limit.
    killed_pod = killed.pod()["status"]["containerStatuses"][0]["state"]["terminated"]
    assert killed_pod == {"exitCode": 137, "reason": "Error"}

    # Lineage left from the code server alone (its sensor, its env), as under the Helm chart:
    # START and COMPLETE of the retry; START then an outcome for the killed and deleted runs.
    def lineage_of(run_id):
        return [e["eventType"] for e in stack.lineage.events if e["run"]["facets"]["parent"]["run"]["runId"] == run_id]

    wait_for(lambda: lineage_of(retried["runId"]) == ["START", "COMPLETE"], 60, "the retry's lineage", stack)
    # (COMPLETE if the step pod finished first; FAIL if the interrupted step recorded its failure.)
    ended = (["ABORT"], ["COMPLETE"], ["FAIL"])
    wait_for(
        lambda: lineage_of(killed_id)[-1:] in ended and lineage_of(deleted_id)[-1:] in ended,
        60,
        "the failed runs' lineage",
        stack,
    )
    assert lineage_of(killed_id)[0] == lineage_of(deleted_id)[0] == "START"


NOT_PUSHED = "registry.example.com/odf/odf-user-code:0123456789abcdef0123456789abcdef01234567"
NO_RETRY = {"dagster/max_retries": "0"}  # each failure below is final; the killed run above shows retries


def k8s_config_tag(container_config: dict) -> dict[str, str]:
    return {"dagster-k8s/config": json.dumps({"container_config": container_config})}


@pytest.mark.timeout(300)
def test_platform_failures_end_failed_with_the_reason_and_a_code_server_restart_spares_the_run(stack):
    """What a cluster does to runs, and what the operator then sees. Launched together (one start
    timeout for all): a run whose image was never pushed (ImagePullBackOff), one no node can hold
    (Pending, Insufficient memory), one whose pod exceeds its memory limit at start (OOMKilled, 137);
    run monitoring fails each after the start timeout, naming the cause. Meanwhile a healthy run's
    code server is restarted mid-run (a rollout): the run succeeds and the location reloads."""
    healthy = ui_materialize(stack, "2024-02-01")
    failing = {
        "ImagePullBackOff": ui_materialize(stack, "2024-02-02", {**NO_RETRY, **k8s_config_tag({"image": NOT_PUSHED})}),
        "Insufficient memory": ui_materialize(
            stack,
            "2024-02-03",
            {**NO_RETRY, **k8s_config_tag({"resources": {"requests": {"memory": "1Ti"}, "limits": {"memory": "1Ti"}}})},
        ),
        "OOMKilled": ui_materialize(
            stack,
            "2024-02-04",
            {
                **NO_RETRY,
                **k8s_config_tag({"resources": {"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}}),
            },
        ),
    }
    wait_for(lambda: step_job(stack, healthy), 120, "the healthy run's step pod", stack)
    assert runs(stack)[healthy]["status"] == "STARTED"
    stack.restart("code-server")
    wait_for(stack.location_loaded, 120, "the code location to load again after the restart", stack)

    ended = wait_for(
        lambda: (
            all(runs(stack)[run_id]["status"] in TERMINAL for run_id in [healthy, *failing.values()]) and runs(stack)
        ),
        180,
        "every run to end",
        stack,
    )
    assert ended[healthy]["status"] == "SUCCESS"
    for reason, run_id in failing.items():
        assert ended[run_id]["status"] == "FAILURE", reason
        message = failure_message(stack, run_id)
        assert f"taking longer than {START_TIMEOUT_SECONDS} seconds to start" in message, message
        assert reason in message, message
    assert "Terminated with exit code 137: OOMKilled" in failure_message(stack, failing["OOMKilled"])
    assert NOT_PUSHED in failure_message(stack, failing["ImagePullBackOff"])
    assert not [run for run in runs(stack).values() if tags(run).get("dagster/parent_run_id") in failing.values()]
    assert_pods_as_a_cluster_runs_them(stack)
