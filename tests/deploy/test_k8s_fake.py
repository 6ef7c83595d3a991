"""The executing fake Kubernetes API fails the way a cluster does (tests/deploy/k8s_api.py), checked
through the official kubernetes client: admission refuses non-restricted pods, unknown images stay
in ImagePullBackOff, a pod over its memory limit is OOMKilled (137) and any other kill is an Error,
and pods write only to their emptyDirs."""

from __future__ import annotations

import signal
import sys
import time
import uuid

import kubernetes
import pytest

from tests.deploy.k8s_api import ExecutingKubernetesApi

IMAGE = "registry.example.com/odf/odf-user-code:4a83e0e0c3b1d2f5a6e7b8c9d0e1f2a3b4c5d6e7"
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.fixture
def cluster(tmp_path):
    api = ExecutingKubernetesApi(tmp_path / "pods", tmp_path, {"PATH": "/usr/bin:/bin"}, pullable_images={IMAGE})
    client = kubernetes.config.new_client_from_config(config_file=str(api.write_kubeconfig(tmp_path / "kc", "odf")))
    yield api, kubernetes.client.BatchV1Api(client), kubernetes.client.CoreV1Api(client)
    api.shutdown()


def job(code: str, image: str = IMAGE, memory: str = "256Mi", security: dict | None = None) -> dict:
    name = f"job-{uuid.uuid4().hex[:8]}"
    container = {
        "name": "main",
        "image": image,
        "args": [sys.executable, "-c", code],
        "resources": {"requests": {"memory": memory}, "limits": {"memory": memory}},
        "securityContext": RESTRICTED if security is None else security,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {"restartPolicy": "Never", "containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": pod}},
    }


def terminated(core, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [pod] = core.list_namespaced_pod("odf", label_selector=f"job-name={name}").items
        state = pod.status.container_statuses[0].state
        if state.terminated:
            return {"exitCode": state.terminated.exit_code, "reason": state.terminated.reason}
        time.sleep(0.2)
    raise AssertionError(f"pod of {name} did not end")


def test_exit_codes_tell_an_oom_kill_from_other_kills_and_errors(cluster):
    api, batch, core = cluster
    hog = job(
        "import time; x = bytearray(400 * 2**20); x[::4096] = b'1' * len(x[::4096]); time.sleep(60)", memory="128Mi"
    )
    sleeper, failing = job("import time; time.sleep(60)"), job("raise SystemExit(3)")
    for body in (hog, sleeper, failing):
        batch.create_namespaced_job("odf", body)
    assert terminated(core, hog["metadata"]["name"]) == {"exitCode": 137, "reason": "OOMKilled"}
    assert terminated(core, failing["metadata"]["name"]) == {"exitCode": 3, "reason": "Error"}
    running = api.jobs[("odf", sleeper["metadata"]["name"])]
    api.stop(running, signal.SIGKILL)  # node loss: killed, but not for memory
    assert terminated(core, sleeper["metadata"]["name"]) == {"exitCode": 137, "reason": "Error"}
    status = batch.read_namespaced_job(hog["metadata"]["name"], "odf").status
    assert status.failed == 1 and not status.active


def test_unknown_image_unschedulable_pod_and_non_restricted_pod_never_run(cluster):
    api, batch, core = cluster
    wrong = job("print('never')", image="registry.example.com/odf/odf-user-code:not-pushed")
    huge = job("print('never')", memory="1Ti")
    rooted = job("print('never')", security={**RESTRICTED, "readOnlyRootFilesystem": False})
    for body in (wrong, huge, rooted):
        batch.create_namespaced_job("odf", body)
    [pending] = core.list_namespaced_pod("odf", label_selector=f"job-name={wrong['metadata']['name']}").items
    assert pending.status.phase == "Pending"
    assert pending.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    assert batch.read_namespaced_job(wrong["metadata"]["name"], "odf").status.active == 1
    [unscheduled] = core.list_namespaced_pod("odf", label_selector=f"job-name={huge['metadata']['name']}").items
    assert unscheduled.status.conditions[0].reason == "Unschedulable"
    events = core.list_namespaced_event("odf", field_selector=f"involvedObject.name={unscheduled.metadata.name}")
    assert [event.reason for event in events.items] == ["FailedScheduling"]
    assert core.list_namespaced_pod("odf", label_selector=f"job-name={rooted['metadata']['name']}").items == []
    [refused] = core.list_namespaced_event(
        "odf", field_selector=f"involvedObject.name={rooted['metadata']['name']}"
    ).items
    assert refused.reason == "FailedCreate" and "readOnlyRootFilesystem" in refused.message
    assert all(job.process is None for job in api.jobs.values())


def test_pods_write_only_to_their_mounts(cluster):
    api, batch, core = cluster
    tidy = job("import tempfile; tempfile.NamedTemporaryFile(delete=False).write(b'ok')")
    messy = job("open('state.db', 'w').write('lost with the pod')")
    for body in (tidy, messy):
        batch.create_namespaced_job("odf", body)
    assert terminated(core, tidy["metadata"]["name"])["exitCode"] == 0
    assert terminated(core, messy["metadata"]["name"])["exitCode"] == 0
    assert api.root_writes() == {messy["metadata"]["name"]: ["state.db"]}
