"""ODF's production path on loopback: PostgreSQL, the code server, webserver and daemon as
processes, deploy/dagster.yaml as the instance, and an executing Kubernetes API that runs the Jobs
the K8sRunLauncher and k8s_job_executor create. Objects a cluster would hold (the instance and env
ConfigMaps, the Postgres and ODF Secrets) are created in the fake API the way helm/README.md and
deploy/dagster.yaml describe them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import requests
import yaml

from tests.deploy.deploy_config import CLUSTER_ENV, DAGSTER_YAML, NAMESPACE, ROOT
from tests.deploy.k8s_api import ExecutingKubernetesApi
from tests.support.servers import free_port

BIN = Path(sys.executable).parent
# An image tagged by git SHA, as helm/README.md "Releasing" builds them; the only one the registry has.
IMAGE = "registry.example.com/odf/odf-user-code:4a83e0e0c3b1d2f5a6e7b8c9d0e1f2a3b4c5d6e7"
START_TIMEOUT_SECONDS = 40
LOCATION_STATUS = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
)


def instance_yaml() -> str:
    """deploy/dagster.yaml with the daemon's loops shortened so the test does not wait on them."""
    config = yaml.safe_load(DAGSTER_YAML.read_text())
    config["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    # A pod that has not started its run within 40 s fails (wrong image, no node fits, killed at start).
    config["run_monitoring"].update(poll_interval_seconds=2, start_timeout_seconds=START_TIMEOUT_SECONDS)
    config["compute_logs"]["config"]["upload_interval"] = 5
    return yaml.safe_dump(config, sort_keys=False)


class K8sStack:
    def __init__(
        self,
        root: Path,
        postgres,
        moto_env: dict[str, str],
        data_bucket: str,
        log_bucket: str,
        lineage_url: str,
        odf_settings: dict[str, str] | None = None,
        database: str = "k8s_e2e",
    ) -> None:
        self.root, self.postgres = root, postgres
        self.home = root / "dagster_home"
        self.home.mkdir(parents=True)
        (self.home / "dagster.yaml").write_text(instance_yaml())
        connection = psycopg2.connect(**postgres.connect_kwargs())
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {database}")
        connection.close()
        base = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
        self.api = ExecutingKubernetesApi(root / "pods", BIN, base, pullable_images={IMAGE})
        kubeconfig = self.api.write_kubeconfig(root / "kubeconfig", namespace=NAMESPACE)
        pg = {**postgres.env(), "DAGSTER_PG_DB": database}
        cluster_env = {
            **CLUSTER_ENV,
            **{k: v for k, v in pg.items() if k != "DAGSTER_PG_PASSWORD"},
            "ODF_COMPUTE_LOG_BUCKET": log_bucket,
            "KUBECONFIG": str(kubeconfig),
            "ODF_STEP_EXECUTOR": "k8s",
            "DAGSTER_HOME": str(self.home),
        }
        odf_env = {"ODF_STORAGE": f"s3://{data_bucket}/odf", **moto_env, **(odf_settings or {})}
        # What the cluster holds (deploy/dagster.yaml header): ConfigMaps odf-dagster-env and the
        # instance, Secrets odf-env and the Postgres password.
        self.api.add_config_map(NAMESPACE, "odf-dagster-env", cluster_env)
        self.api.add_config_map(
            NAMESPACE, CLUSTER_ENV["DAGSTER_K8S_INSTANCE_CONFIG_MAP"], {"dagster.yaml": instance_yaml()}
        )
        self.api.add_secret(
            NAMESPACE, CLUSTER_ENV["DAGSTER_K8S_PG_PASSWORD_SECRET"], {"postgresql-password": pg["DAGSTER_PG_PASSWORD"]}
        )
        self.api.add_secret(NAMESPACE, "odf-env", odf_env)
        self.env = {**base, **cluster_env, **odf_env, "DAGSTER_PG_PASSWORD": pg["DAGSTER_PG_PASSWORD"]}
        # The Secret odf-openlineage, which helm/values.yaml gives the code server only.
        self.lineage_env = {"OPENLINEAGE_URL": lineage_url, "ODF_LINEAGE_SENSOR_INTERVAL_SECONDS": "2"}
        self.grpc_port, self.web_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        (root / "workspace.yaml").write_text(
            yaml.safe_dump(
                {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": self.grpc_port, "location_name": "odf"}}]}
            )
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self._launches: dict[str, tuple[list[str], dict[str, str]]] = {}

    def _spawn(self, name: str, args: list[str], **extra_env: str) -> None:
        self._launches[name] = (args, extra_env)
        log = (self.root / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            args,
            cwd=self.root,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, timeout: float = 120) -> K8sStack:
        # The chart's user deployment: `dagster api grpc` in ODF's image, which reports that image.
        self._spawn(
            "code-server",
            [
                str(BIN / "dagster"),
                "api",
                "grpc",
                "-m",
                "odf.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.grpc_port),
            ],
            DAGSTER_CURRENT_IMAGE=IMAGE,
            **self.lineage_env,
        )
        self._spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.web_port)],
        )
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                assert process.poll() is None, f"{name} exited: {self.log(name)[-3000:]}"
            if self.location_loaded():
                return self
            time.sleep(1)
        raise AssertionError(
            f"stack not up in {timeout}s: {self.log('webserver')[-2000:]} {self.log('code-server')[-2000:]}"
        )

    def restart(self, name: str) -> None:
        """Stop one process (SIGTERM, as Kubernetes stops a container) and start it again, like a
        Deployment replacing its pod; the same port, so the Service name stays valid."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        args, extra_env = self._launches[name]
        self._spawn(name, args, **extra_env)

    def location_loaded(self) -> bool:
        try:
            entries = self.graphql(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        except (requests.ConnectionError, KeyError, TypeError):
            return False
        return bool(
            entries
            and entries[0]["loadStatus"] == "LOADED"
            and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        )

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
        response.raise_for_status()
        payload = response.json()
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(5)  # a graceful stop is not what these tests check
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.api.shutdown()


__all__ = ["K8sStack", "ROOT"]
