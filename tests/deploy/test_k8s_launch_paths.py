"""The schedule and sensor launch paths on the executing Kubernetes stack (tests/deploy/k8s_stack.py):
a daily ingest schedule's tick and the landing sensor's request become runs whose steps run in pods
sized by their op tags, like the UI, backfill and `odf trigger` runs in test_k8s_e2e.py."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from odf_assets.k8s_config import HEAVY_CONTAINER_RESOURCES
from tests.deploy.deploy_config import HELM_VALUES, load_yaml, validate_strict
from tests.deploy.k8s_stack import K8sStack
from tests.deploy.test_k8s_e2e import TERMINAL, runs, tags, wait_for
from tests.lineage.collector import LineageCollector
from tests.support.pipeline import write_registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SOURCE = "e2e_counts"
SCHEDULE = f"ingest_{SOURCE}_daily"
SENSOR = "iris_landing_sensor"
DEFAULT_RESOURCES = load_yaml(HELM_VALUES)["runLauncher"]["config"]["k8sRunLauncher"]["resources"]


@pytest.fixture(scope="module")
def stack(postgres_cluster, moto_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    registry_dir = root / "registry"
    registry_dir.mkdir()
    (registry_dir / "counts.csv").write_text(f"id,day,n\n1,{yesterday},3\n2,{yesterday},4\n")
    registry = write_registry(
        registry_dir,
        [
            {
                "name": SOURCE,
                "description": "Counts for the launch-path test.",
                "license": "CC0-1.0",
                "owner": "ODF tests",
                "url": "counts.csv",
                "date_column": "day",
                "format": "csv",
                "schema": {"id": "int64", "day": "date", "n": "int64"},
                "start_date": "2024-01-01",
                "fetch_cron": "* * * * *",
                "key": ["id"],
            }
        ],
    )
    moto_env = moto_server.env()
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_env["AWS_ENDPOINT_URL"],
        region_name=moto_env.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id=moto_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=moto_env["AWS_SECRET_ACCESS_KEY"],
    )
    data, logs = f"odf-paths-{uuid.uuid4().hex[:8]}", f"odf-paths-logs-{uuid.uuid4().hex[:8]}"
    for bucket in (data, logs):
        s3.create_bucket(Bucket=bucket)
    settings = {
        "ODF_SOURCES": str(registry),
        "ODF_SCHEDULES_DEFAULT_STATUS": "running",
        "ODF_LANDING_SENSOR_INTERVAL_SECONDS": "2",
    }
    lineage = LineageCollector()
    running = K8sStack(
        root, postgres_cluster, moto_env, data, logs, lineage.url, odf_settings=settings, database="k8s_paths"
    )
    try:
        running.start()
        running.s3, running.data_bucket, running.yesterday = s3, data, yesterday
        yield running
    finally:
        running.stop()
        lineage.stop()


def step_jobs(stack: K8sStack, run_id: str) -> list[dict]:
    with stack.api._lock:  # noqa: SLF001 - a consistent snapshot of the fake API's jobs
        jobs = list(stack.api.jobs.values())
    return [
        job.body
        for job in jobs
        if job.body["metadata"]["labels"].get("dagster/run-id") == run_id
        and job.body["metadata"]["labels"].get("app.kubernetes.io/component") == "step_worker"
    ]


def container(body: dict) -> dict:
    return body["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.timeout(240)
def test_schedule_and_sensor_runs_get_pods_sized_by_their_steps(stack):
    record = {"id": "a1", "sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    stack.s3.put_object(
        Bucket=stack.data_bucket, Key="odf/landing/iris/date=2024-05-01/batch-1.jsonl", Body=json.dumps(record).encode()
    )

    def launched_by(key: str, name: str):
        return next((run for run in runs(stack).values() if tags(run).get(key) == name), None)

    scheduled = wait_for(lambda: launched_by("dagster/schedule_name", SCHEDULE), 120, "the schedule's run", stack)
    sensed = wait_for(lambda: launched_by("dagster/sensor_name", SENSOR), 60, "the landing sensor's run", stack)
    assert tags(scheduled)["dagster/partition"] == stack.yesterday
    for run in (scheduled, sensed):
        wait_for(
            lambda run=run: runs(stack)[run["runId"]]["status"] in TERMINAL, 150, f"run {run['runId']} to end", stack
        )

    # The schedule's run: the raw asset's step in a heavy pod, the rest at the default size.
    assert runs(stack)[scheduled["runId"]]["status"] == "SUCCESS"
    by_step = {
        next(e["value"] for e in container(b)["env"] if e["name"] == "DAGSTER_RUN_STEP_KEY"): b
        for b in step_jobs(stack, scheduled["runId"])
    }
    assert container(by_step[f"raw__{SOURCE}"])["resources"] == HEAVY_CONTAINER_RESOURCES
    assert all(
        container(body)["resources"] == DEFAULT_RESOURCES for step, body in by_step.items() if step != f"raw__{SOURCE}"
    )
    # The sensor's run (iris scoring; it fails here for want of a trained model): steps in pods too,
    # none of them heavy.
    sensed_steps = step_jobs(stack, sensed["runId"])
    assert sensed_steps and all(container(body)["resources"] == DEFAULT_RESOURCES for body in sensed_steps)
    for body in stack.api.created:
        validate_strict(body)
    assert not stack.api.unexpected, stack.api.unexpected
