"""Every pod ODF deploys meets the "restricted" Pod Security Standard with a read-only root
filesystem: the webserver (writable and read-only), daemon and code server as helm/values.yaml
configures them, and the run and step Jobs dagster-k8s builds from deploy/dagster.yaml and the Helm
values (the e2e tests check every Job launched on the executing fake as well)."""

from __future__ import annotations

import copy

import pytest

from tests.deploy.deploy_config import (
    HELM_VALUES,
    USER_CODE_IMAGE,
    build_launcher,
    launcher_config_from_helm,
    load_yaml,
    offline_run_job,
    render_instance_yaml,
    validate_strict,
)
from tests.deploy.pod_security import job_pod_spec, restricted_violations

CHART_IMAGE = "docker.io/dagster/dagster-k8s:1.13.27"
POSTGRES_IMAGE = "docker.io/library/postgres:14.6"
BUSYBOX_IMAGE = "docker.io/library/busybox:1.28"
# Where Dagster and Polars write in a pod; each must be a writable emptyDir (the root is read-only).
WRITABLE_PATHS = {"/tmp", "/opt/dagster/dagster_home"}


def component_pod(section: dict, image: str, args: list[str], init_images: tuple[str, ...] = ()) -> dict:
    """A component's pod as the chart's deployment templates place its values (deployment-webserver,
    deployment-daemon, the subchart's deployment-user): podSecurityContext on the pod;
    securityContext, volumeMounts and probes on the container; the webserver and daemon also get
    the component's securityContext on their init containers (waiting for PostgreSQL and for the
    code server), and the instance ConfigMap mounted at $DAGSTER_HOME/dagster.yaml."""
    context = section.get("securityContext") or {}
    main = {"name": "dagster", "image": image, "args": args, "securityContext": copy.deepcopy(context)}
    main["volumeMounts"] = copy.deepcopy(section.get("volumeMounts") or [])
    volumes = copy.deepcopy(section.get("volumes") or [])
    for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
        if section.get(probe):
            main[probe] = {k: v for k, v in section[probe].items() if k != "enabled"}
    init = [
        {"name": name, "image": init_image, "command": ["sh", "-c", "true"], "securityContext": copy.deepcopy(context)}
        for name, init_image in zip(("check-db-ready", "init-user-deployment-odf"), init_images, strict=False)
    ]
    if init_images:  # the webserver and daemon read the instance from the chart's ConfigMap
        main["volumeMounts"].append(
            {
                "name": "dagster-instance",
                "mountPath": "/opt/dagster/dagster_home/dagster.yaml",
                "subPath": "dagster.yaml",
            }
        )
        volumes.append({"name": "dagster-instance", "configMap": {"name": "odf-dagster-instance"}})
    pod = {"securityContext": copy.deepcopy(section.get("podSecurityContext") or {}), "volumes": volumes}
    return {**pod, **({"initContainers": init} if init else {}), "containers": [main]}


def deployment(name: str, pod: dict) -> dict:
    labels = {"app.kubernetes.io/name": "dagster", "component": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}},
    }


def chart_pods(values: dict) -> dict[str, dict]:
    [code] = values["dagster-user-deployments"]["deployments"]
    code_image = f"{code['image']['repository']}:{code['image']['tag']}"
    init_images = (POSTGRES_IMAGE, BUSYBOX_IMAGE)
    pods = {
        "dagster-webserver": component_pod(
            values["dagsterWebserver"], CHART_IMAGE, ["dagster-webserver"], init_images=init_images
        ),
        "dagster-daemon": component_pod(
            values["dagsterDaemon"], CHART_IMAGE, ["dagster-daemon", "run"], init_images=init_images
        ),
        "user-deployments": component_pod(code, code_image, ["dagster", "api", "grpc", *code["dagsterApiGrpcArgs"]]),
    }
    if values["dagsterWebserver"].get("enableReadOnly"):
        pods["dagster-webserver-read-only"] = pods["dagster-webserver"]
    return pods


@pytest.fixture(scope="module")
def values():
    return load_yaml(HELM_VALUES)


def test_webserver_daemon_and_code_server_pods_are_restricted(values):
    pods = chart_pods(values)
    assert set(pods) == {"dagster-webserver", "dagster-webserver-read-only", "dagster-daemon", "user-deployments"}
    for name, pod in pods.items():
        assert restricted_violations(pod, name) == []
        validate_strict(deployment(name, pod))
        writable = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
        mounts = {mount["mountPath"] for mount in pod["containers"][0]["volumeMounts"] if mount["name"] in writable}
        assert mounts == WRITABLE_PATHS, name
        assert all(context["securityContext"]["readOnlyRootFilesystem"] for context in pod.get("initContainers", []))


def test_run_jobs_from_both_configs_are_restricted(values, kubeconfig, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "/opt/dagster/dagster_home")
    for env in ("DAGSTER_K8S_PIPELINE_RUN_NAMESPACE", "DAGSTER_K8S_SERVICE_ACCOUNT", "DAGSTER_K8S_INSTANCE_CONFIG_MAP"):
        monkeypatch.setenv(env, "odf-run" if "SERVICE" in env else "odf")
    monkeypatch.setenv("DAGSTER_K8S_PG_PASSWORD_SECRET", "odf-dagster-postgresql")
    launchers = {
        "deploy/dagster.yaml": build_launcher(render_instance_yaml(kubeconfig)["run_launcher"]["config"]),
        "helm/values.yaml": build_launcher(launcher_config_from_helm(values, kubeconfig)),
    }
    for name, launcher in launchers.items():
        job = offline_run_job(launcher)
        validate_strict(job)
        assert restricted_violations(job_pod_spec(job), name) == []
        pod = job_pod_spec(job)
        assert pod["serviceAccountName"] == "odf-run", name  # the account that may launch step Jobs
        assert {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]} >= WRITABLE_PATHS
        assert job_pod_spec(job)["containers"][0]["image"] == USER_CODE_IMAGE


# case -> how a pod breaks the profile, and what the check must say
BROKEN_PODS = {
    "writable root": (lambda p: p["containers"][0]["securityContext"].pop("readOnlyRootFilesystem"), "readOnlyRoot"),
    "root user": (lambda p: p["securityContext"].update(runAsNonRoot=False, runAsUser=0), "runAsUser 0"),
    "escalation": (lambda p: p["initContainers"][0]["securityContext"].pop("allowPrivilegeEscalation"), "Escalation"),
    "unconfined": (
        lambda p: p["containers"][0]["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile",
    ),
    "capabilities": (
        lambda p: p["containers"][0]["securityContext"].update(capabilities={"add": ["SYS_ADMIN"]}),
        "capabilities",
    ),
    "host path": (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
    "host network": (lambda p: p.update(hostNetwork=True), "hostNetwork"),
    "privileged": (lambda p: p["containers"][0]["securityContext"].update(privileged=True), "privileged"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PODS))
def test_the_check_refuses_each_broken_pod(values, case):
    break_pod, expected = BROKEN_PODS[case]
    pod = copy.deepcopy(chart_pods(values)["dagster-daemon"])
    pod["initContainers"][0]["securityContext"] = copy.deepcopy(pod["initContainers"][0]["securityContext"])
    break_pod(pod)
    found = restricted_violations(pod, case)
    assert found and any(expected in problem for problem in found), found
