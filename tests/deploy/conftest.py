"""Fixtures for the deploy tests: a real PostgreSQL, a recording Kubernetes API, the prod instance."""

from __future__ import annotations

import boto3
import dagster as dg
import kubernetes
import pytest
import yaml

from tests.deploy.deploy_config import CLUSTER_ENV, NAMESPACE, render_instance_yaml
from tests.deploy.k8s_api import RecordingKubernetesApi
from tests.support.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres_cluster():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def k8s_api():
    api = RecordingKubernetesApi()
    yield api
    api.stop()


@pytest.fixture
def kubeconfig(k8s_api, tmp_path, monkeypatch):
    """A kubeconfig for the fake API, named by KUBECONFIG as deploy/dagster.yaml expects."""
    k8s_api.jobs.clear()
    k8s_api.unexpected.clear()
    path = k8s_api.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    monkeypatch.setenv("KUBECONFIG", str(path))
    # kubernetes-python reads KUBECONFIG once, at import; a process started with it set needs no more.
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    return path


@pytest.fixture
def compute_log_bucket(s3_env):
    bucket = f"{s3_env}-logs"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def prod_instance(postgres_cluster, kubeconfig, compute_log_bucket, monkeypatch, tmp_path):
    """The production dagster.yaml, loaded with a pod's environment pointing at loopback services."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(render_instance_yaml(kubeconfig)))
    env = {
        **postgres_cluster.env(),
        **CLUSTER_ENV,
        "ODF_COMPUTE_LOG_BUCKET": compute_log_bucket,
        "DAGSTER_HOME": str(home),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance
