"""Shared helpers for the deploy tests: the repo's deploy files, rendered configs, Job manifests."""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes_validate
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.storage.dagster_run import DagsterRun
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id
from kubernetes_validate.utils import all_versions

ROOT = Path(__file__).resolve().parents[2]
DAGSTER_YAML = ROOT / "deploy" / "dagster.yaml"
HELM_VALUES = ROOT / "helm" / "values.yaml"
HELM_README = ROOT / "helm" / "README.md"
HELM_SCHEMA_DIR = ROOT / "helm" / "schema"

# The chart declares kubeVersion ">= 1.18"; kubernetes-validate ships schemas from 1.25 on, so
# manifests are checked against the oldest shipped version (closest to the chart's floor) and the
# newest one.
K8S_VERSIONS = (all_versions()[0], all_versions()[-1])

NAMESPACE = "odf"
RELEASE = "odf"
# What the non-secret ConfigMap odf-dagster-env holds in a cluster (see deploy/dagster.yaml header).
CLUSTER_ENV = {
    "DAGSTER_K8S_PIPELINE_RUN_NAMESPACE": NAMESPACE,
    "DAGSTER_K8S_SERVICE_ACCOUNT": "odf-run",
    "ODF_STEP_SERVICE_ACCOUNT": "odf-step",
    "DAGSTER_K8S_INSTANCE_CONFIG_MAP": "odf-dagster-instance",
    "DAGSTER_K8S_PG_PASSWORD_SECRET": "odf-dagster-postgresql",
    "ODF_COMPUTE_LOG_PREFIX": "odf/compute-logs",
}
USER_CODE_IMAGE = "registry.example.com/odf/odf-user-code:0.1.0"


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def render_instance_yaml(kubeconfig: Path) -> dict[str, Any]:
    """dagster.yaml exactly as a pod loads it; the launcher reaches the API through ``$KUBECONFIG``,
    which the ``kubeconfig`` fixture points at ``kubeconfig`` (as a pod's env points at
    deploy/kubeconfig-in-cluster.yaml)."""
    config = load_yaml(DAGSTER_YAML)
    assert (
        config["run_launcher"]["config"]["load_incluster_config"] is False
        and "kubeconfig_file" not in config["run_launcher"]["config"]
    )
    return config


# runLauncher.config.k8sRunLauncher.runK8sConfig keys -> run_k8s_config keys, as the template renders them.
RUN_K8S_CONFIG_KEYS = {
    "containerConfig": "container_config",
    "podSpecConfig": "pod_spec_config",
    "podTemplateSpecMetadata": "pod_template_spec_metadata",
    "jobSpecConfig": "job_spec_config",
    "jobMetadata": "job_metadata",
}


def launcher_config_from_helm(values: dict[str, Any], kubeconfig: Path) -> dict[str, Any]:
    """The K8sRunLauncher config the chart renders from ``runLauncher.config.k8sRunLauncher``.

    Mirrors the chart's templates/helpers/instance/_run-launcher.tpl (names it derives from the
    release: <release>-dagster-instance, <release>-dagster-pipeline-env).
    """
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    return {
        "load_incluster_config": False,  # the chart's launcher runs in-cluster; tests have no pod token
        "kubeconfig_file": str(kubeconfig),
        "job_namespace": k8s.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k8s["imagePullPolicy"],
        "service_account_name": values["serviceAccount"]["name"],  # the chart's own (webserver/daemon)
        "dagster_home": "/opt/dagster/dagster_home",
        "instance_config_map": f"{RELEASE}-dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_config_maps": [f"{RELEASE}-dagster-pipeline-env", *(c["name"] for c in k8s["envConfigMaps"])],
        "env_secrets": [s["name"] for s in k8s["envSecrets"]],
        "env_vars": k8s["envVars"],
        "volume_mounts": k8s["volumeMounts"],
        "volumes": k8s["volumes"],
        "labels": k8s.get("labels") or {},
        "fail_pod_on_run_failure": k8s["failPodOnRunFailure"],
        "resources": k8s["resources"],
        "security_context": k8s["securityContext"],
        "run_k8s_config": {RUN_K8S_CONFIG_KEYS[key]: value for key, value in (k8s.get("runK8sConfig") or {}).items()},
    }


def build_launcher(raw_config: dict[str, Any]) -> K8sRunLauncher:
    """A K8sRunLauncher from raw instance config, through Dagster's own config processing."""
    result = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), raw_config)
    assert result.success, [error.message for error in result.errors]
    return K8sRunLauncher(**result.value)


def offline_run_job(launcher: K8sRunLauncher, tags: dict[str, str] | None = None) -> dict[str, Any]:
    """The run-worker Job that ``launcher`` would POST, built by dagster-k8s without any API call."""
    run = DagsterRun(job_name="daily_pipeline", run_id=str(uuid.uuid4()), tags=tags or {})
    context = launcher.get_container_context_for_run(run)
    job_config = context.get_k8s_job_config(job_image=USER_CODE_IMAGE, run_launcher=launcher)
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_run", "{}"],
        job_name=get_job_name_from_run_id(run.run_id),
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
    )
    return to_manifest(job)


def to_manifest(job: kubernetes.client.V1Job) -> dict[str, Any]:
    """The JSON body the kubernetes client sends for ``job``."""
    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


def validate_strict(manifest: dict[str, Any]) -> None:
    """Strict (unknown fields rejected) schema validation for every checked Kubernetes version."""
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, containers
    return containers[0]


def env_from_names(manifest: dict[str, Any]) -> dict[str, list[str]]:
    sources: dict[str, list[str]] = {"configMapRef": [], "secretRef": []}
    for source in container(manifest).get("envFrom", []):
        for kind, names in sources.items():
            if kind in source:
                names.append(source[kind]["name"])
    return sources
