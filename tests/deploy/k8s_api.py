"""Stand-ins for the Kubernetes API on 127.0.0.1: one that records the Jobs it is asked to create,
and one that executes them as local processes and reports their status."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CREATE_JOB_PATH = re.compile(r"^/apis/batch/v1/namespaces/(?P<namespace>[^/]+)/jobs/?$")


@dataclass
class RecordedJob:
    namespace: str
    body: dict
    authorization: str | None


@dataclass
class RecordingKubernetesApi:
    """Answers ``POST /apis/batch/v1/namespaces/<ns>/jobs`` like the API server (201 + the Job); 404 otherwise."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    jobs: list[RecordedJob] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                match = CREATE_JOB_PATH.match(self.path.split("?")[0])
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not match:
                    api.unexpected.append(f"POST {self.path}")
                    return self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
                body = json.loads(raw)
                api.jobs.append(RecordedJob(match["namespace"], body, self.headers.get("Authorization")))
                created = json.loads(raw)
                created.setdefault("metadata", {}).update(namespace=match["namespace"], uid=str(uuid.uuid4()))
                self._reply(201, created)

            def do_GET(self) -> None:
                api.unexpected.append(f"GET {self.path}")
                self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def write_kubeconfig(self, path: Path, namespace: str) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "recorder", "cluster": {"server": self.url}}],
            "users": [{"name": "recorder", "user": {"token": self.token}}],
            "contexts": [
                {"name": "recorder", "context": {"cluster": "recorder", "user": "recorder", "namespace": namespace}}
            ],
            "current-context": "recorder",
        }
        path.write_text(json.dumps(config))  # JSON is valid kubeconfig YAML
        return path

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


JOB_PATH = re.compile(
    r"^/apis/batch/v1/namespaces/(?P<namespace>[^/]+)/jobs(?:/(?P<name>[^/]+))?(?P<status>/status)?/?$"
)
POD_PATH = re.compile(r"^/api/v1/namespaces/(?P<namespace>[^/]+)/pods(?:/(?P<name>[^/]+))?(?P<log>/log)?/?$")
EVENTS_PATH = re.compile(r"^/api/v1/namespaces/(?P<namespace>[^/]+)/events/?$")


QUANTITY = re.compile(r"^(?P<number>[0-9.]+)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?$")
UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
UNITS.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})


def memory_bytes(quantity: str | int | None) -> int | None:
    """A Kubernetes memory quantity ("512Mi", "4Gi", "1G", bytes) in bytes; None stays None."""
    if quantity is None:
        return None
    match = QUANTITY.match(str(quantity))
    if not match:
        raise ValueError(f"unsupported memory quantity {quantity!r}")
    return int(float(match["number"]) * UNITS[match["unit"]])


def rss_by_process_group() -> dict[int, int]:
    """Resident memory per process group (a pod's processes share one), from one pass over /proc."""
    totals: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            totals[pgid] = totals.get(pgid, 0) + int((entry / "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return totals


@dataclass
class RunningJob:
    """One Job and the local process standing in for its only pod."""

    namespace: str
    body: dict
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    rootfs: Path | None = None  # the container's root filesystem: read-only, nothing may appear here
    error: str | None = None  # why the pod could not start (missing Secret, ...)
    waiting: tuple[str, str] | None = None  # (reason, message) while the pod is Pending
    unschedulable: str | None = None  # the scheduler's message while no node fits the pod
    rejected: str | None = None  # why Pod Security admission refused to create the pod
    oom_killed: bool = False  # the fake's memory enforcement killed the pod
    start_time: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]

    @property
    def exit_code(self) -> int | None:
        """The container's exit code as the kubelet reports it: 128 + signal for a killed process."""
        if self.error:
            return 1
        code = None if self.process is None else self.process.poll()
        return 128 - code if code is not None and code < 0 else code

    @property
    def memory_limit(self) -> int | None:
        container = self.body["spec"]["template"]["spec"]["containers"][0]
        return memory_bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))

    def status(self) -> dict:
        code = self.exit_code
        status: dict = {"startTime": self.start_time}
        if self.rejected:
            status["conditions"] = []
        elif code is None:
            status["active"] = 1  # pending and running pods both count as active
        elif code == 0:
            status.update(succeeded=1, conditions=[{"type": "Complete", "status": "True"}])
        else:
            status.update(failed=1, conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}])
        return status

    def pod(self) -> dict:
        code = self.exit_code
        conditions = []
        if self.unschedulable:
            phase, state = "Pending", {"waiting": {"reason": "ContainerCreating"}}
            conditions = [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": self.unschedulable}
            ]
        elif self.waiting:
            phase, state = "Pending", {"waiting": {"reason": self.waiting[0], "message": self.waiting[1]}}
        elif code is None:
            phase, state = "Running", {"running": {"startedAt": self.start_time}}
        else:
            phase = "Succeeded" if code == 0 else "Failed"
            # OOMKilled only when the memory limit was exceeded; any other kill is an Error (137 for SIGKILL).
            reason = "Completed" if code == 0 else ("OOMKilled" if self.oom_killed else "Error")
            state = {"terminated": {"exitCode": code, "reason": reason}}
        template = self.body["spec"]["template"]
        labels = {**(template.get("metadata", {}).get("labels") or {}), "job-name": self.name}
        container = template["spec"]["containers"][0]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{self.name}-pod",
                "namespace": self.namespace,
                "labels": labels,
                "uid": str(uuid.uuid4()),
            },
            "spec": {"containers": [{"name": container["name"], "image": container["image"]}]},
            "status": {
                "phase": phase,
                "conditions": conditions,
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container["image"],
                        "imageID": "",
                        "ready": phase == "Running",
                        "restartCount": 0,
                        "state": state,
                    }
                ],
            },
        }


class ExecutingKubernetesApi:
    """A small Kubernetes API on 127.0.0.1 that runs what it is asked to run, and fails as a cluster does.

    A cluster's refusals: a pod that breaks the "restricted" Pod Security Standard (or has a
    writable root) is never created (``rejected``); a pod whose image is not in ``pullable_images``
    stays Pending in ``ImagePullBackOff``; one whose memory request exceeds ``node_memory`` stays
    Pending, unschedulable; a pod whose processes use more memory than its limit is SIGKILLed and
    reported ``OOMKilled`` (exit code 137), while any other kill is an ``Error`` with 128 + signal.
    The root filesystem is read-only: the process runs in an empty folder standing for it, with
    ``TMPDIR`` on the emptyDir mounted at /tmp; anything written to that folder is reported by
    ``root_writes``.

    ``POST …/jobs`` starts the Job's container ``args`` as a local process, with the environment a
    kubelet would give it: ``env`` values, ``valueFrom`` ``secretKeyRef``/``configMapKeyRef`` and
    ``envFrom`` ConfigMaps/Secrets, all resolved from objects the test created with
    ``add_config_map``/``add_secret`` (a missing one fails the pod, as a kubelet would refuse to
    start it). ConfigMap volumes are written to a local directory, and env values under their mount
    path point there. Jobs and their pod report status (active, succeeded, failed; the pod's phase
    and exit code) through ``GET``; ``DELETE`` of a Job stops its process (SIGTERM, then SIGKILL
    after a grace period), like a Job deleted with its pods. Every created Job body is kept in
    ``created`` for schema validation.
    """

    def __init__(
        self,
        workdir: Path,
        executables: Path,
        base_env: dict[str, str],
        grace_seconds: float = 5.0,
        pullable_images: set[str] | None = None,
        node_memory: str = "64Gi",
    ) -> None:
        self.workdir, self.executables, self.base_env, self.grace_seconds = (
            workdir,
            executables,
            base_env,
            grace_seconds,
        )
        # The registry: images a pod can pull (None: any). Tests add and remove images.
        self.pullable_images = pullable_images
        self.node_memory = memory_bytes(node_memory)
        self.rejected: list[str] = []
        self.history: list[RunningJob] = []  # every Job created, deleted ones included
        self.token = uuid.uuid4().hex
        self.config_maps: dict[tuple[str, str], dict[str, str]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.jobs: dict[tuple[str, str], RunningJob] = {}
        self.created: list[dict] = []
        self.unexpected: list[str] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, payload: object) -> None:
                body = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                path, _, query = self.path.partition("?")
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self._reply(401, _status(401, "Unauthorized"))
                status, payload = api.handle(method, path, query, raw)
                self._reply(status, payload)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self._stopping = threading.Event()
        threading.Thread(target=self._enforce_memory_limits, daemon=True).start()

    # --- objects the test creates ------------------------------------------------------------
    def add_config_map(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.config_maps[(namespace, name)] = dict(data)

    def add_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.secrets[(namespace, name)] = dict(data)

    write_kubeconfig = RecordingKubernetesApi.write_kubeconfig

    # --- the API ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: str, raw: bytes) -> tuple[int, object]:
        params = dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair)
        if match := JOB_PATH.match(path):
            namespace, name = match["namespace"], match["name"]
            if method == "POST" and not name:
                return self._create_job(namespace, json.loads(raw))
            if method == "GET" and not name:
                return 200, {
                    "kind": "JobList",
                    "apiVersion": "batch/v1",
                    "metadata": {},
                    "items": [
                        self._job_object(job) for job in self._select(namespace, params) if isinstance(job, RunningJob)
                    ],
                }
            job = self.jobs.get((namespace, name or ""))
            if job is None:
                return 404, _status(404, f'jobs.batch "{name}" not found')
            if method == "GET":
                return 200, self._job_object(job)
            if method == "DELETE":
                self.stop(job)
                with self._lock:
                    self.jobs.pop((namespace, name), None)
                return 200, _status(200, "Success")
        if match := POD_PATH.match(path):
            namespace, name = match["namespace"], match["name"]
            if method == "GET" and not name:
                return 200, {
                    "kind": "PodList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": [job.pod() for job in self._select(namespace, params) if not job.rejected],
                }
            job = next((j for j in self.jobs.values() if f"{j.name}-pod" == name and j.namespace == namespace), None)
            if job is None:
                return 404, _status(404, f'pods "{name}" not found')
            if method == "GET" and match["log"]:
                return 200, job.log_path.read_text(errors="replace")[
                    -20000:
                ] if job.log_path and job.log_path.exists() else ""
            if method == "GET":
                return 200, job.pod()
            if method == "DELETE":
                self.stop(job)
                return 200, _status(200, "Success")
        if (match := EVENTS_PATH.match(path)) and method == "GET":
            return 200, {"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": self._events(match, params)}
        self.unexpected.append(f"{method} {path}")
        return 404, _status(404, "not found")

    def _events(self, match: re.Match, params: dict[str, str]) -> list[dict]:
        """Warning events as the scheduler, kubelet and Job controller record them."""
        from urllib.parse import unquote

        fields = dict(item.split("=", 1) for item in unquote(params.get("fieldSelector", "")).split(",") if "=" in item)
        with self._lock:
            jobs = [job for job in self.jobs.values() if job.namespace == match["namespace"]]
        events = []
        for job in jobs:
            pod = f"{job.name}-pod"
            if job.rejected:
                events.append(("Job", job.name, "FailedCreate", f"Error creating: {job.rejected}"))
            if job.unschedulable:
                events.append(("Pod", pod, "FailedScheduling", job.unschedulable))
            if job.waiting:
                image = job.body["spec"]["template"]["spec"]["containers"][0]["image"]
                events.append(("Pod", pod, "Failed", f'Failed to pull image "{image}": not found'))
                events.append(("Pod", pod, "BackOff", job.waiting[1]))
        wanted = fields.get("involvedObject.name")
        return [
            {
                "metadata": {"name": f"{name}.{index}", "namespace": match["namespace"]},
                "involvedObject": {"kind": kind, "name": name, "namespace": match["namespace"]},
                "reason": reason,
                "message": message,
                "type": "Warning",
                "count": 1,
            }
            for index, (kind, name, reason, message) in enumerate(events)
            if wanted in (None, name)
        ]

    def _select(self, namespace: str, params: dict[str, str]) -> list[RunningJob]:
        from urllib.parse import unquote

        wanted = dict(item.split("=", 1) for item in unquote(params.get("labelSelector", "")).split(",") if "=" in item)
        fields = dict(item.split("=", 1) for item in unquote(params.get("fieldSelector", "")).split(",") if "=" in item)
        with self._lock:
            jobs = [job for job in self.jobs.values() if job.namespace == namespace]
        if "metadata.name" in fields:  # a Job by its name, or a pod by its name
            jobs = [job for job in jobs if fields["metadata.name"] in (job.name, f"{job.name}-pod")]
        return [
            job
            for job in jobs
            if all(
                job.pod()["metadata"]["labels"].get(k) == v or job.body["metadata"].get("labels", {}).get(k) == v
                for k, v in wanted.items()
            )
        ]

    def _job_object(self, job: RunningJob) -> dict:
        return {**job.body, "metadata": {**job.body["metadata"], "namespace": job.namespace}, "status": job.status()}

    def _create_job(self, namespace: str, body: dict) -> tuple[int, object]:
        from tests.deploy.pod_security import restricted_violations

        name = body["metadata"]["name"]
        with self._lock:
            if (namespace, name) in self.jobs:
                return 409, _status(409, f'jobs.batch "{name}" already exists')
            job = RunningJob(namespace, body)
            self.jobs[(namespace, name)] = job
            self.created.append(body)
            self.history.append(job)
        spec = body["spec"]["template"]["spec"]
        container = spec["containers"][0]
        requested = memory_bytes(((container.get("resources") or {}).get("requests") or {}).get("memory"))
        if violations := restricted_violations(spec, name):
            # The Job exists, but the namespace's PodSecurity admission refuses every pod of it.
            job.rejected = f'pods "{name}" is forbidden: violates PodSecurity "restricted:latest": ' + "; ".join(
                violations
            )
            self.rejected.append(job.rejected)
        elif self.pullable_images is not None and container["image"] not in self.pullable_images:
            job.waiting = (
                "ImagePullBackOff",
                f'Back-off pulling image "{container["image"]}": not found in the registry',
            )
        elif requested is not None and requested > self.node_memory:
            job.unschedulable = "0/1 nodes are available: 1 Insufficient memory."
        else:
            try:
                self._start(job)
            except LookupError as missing:  # what a kubelet reports as CreateContainerConfigError
                job.error = str(missing)
        return 201, self._job_object(job)

    def _start(self, job: RunningJob) -> None:
        spec = job.body["spec"]["template"]["spec"]
        container = spec["containers"][0]
        root = self.workdir / job.name
        mounts = self._mount_volumes(job.namespace, spec, container, root)
        env = dict(self.base_env)
        for source in container.get("envFrom", []):
            env.update(self._env_source(job.namespace, source))
        for item in container.get("env", []):
            env[item["name"]] = self._env_value(job.namespace, item)
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for mount in container.get("volumeMounts", []):  # the kubelet's mounts, seen from this machine
            mount_path, local = mount["mountPath"], mounts[mount["mountPath"]]
            if "configMap" in volumes[mount["name"]]:
                env = {
                    key: value.replace(mount_path, str(local)) if value.startswith(mount_path) else value
                    for key, value in env.items()
                }
        # Read-only root: temporary files only where an emptyDir is mounted at /tmp; without one,
        # TMPDIR names the root folder, and whatever is written there shows up in root_writes().
        job.rootfs = root / "rootfs"
        job.rootfs.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(mounts.get("/tmp", job.rootfs))
        args = [*container.get("command", []), *container.get("args", [])]
        executable = self.executables / args[0]
        job.log_path = root / "pod.log"
        with job.log_path.open("wb") as log:
            job.process = subprocess.Popen(
                [str(executable) if executable.exists() else args[0], *args[1:]],
                env=env,
                cwd=job.rootfs,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _mount_volumes(self, namespace: str, spec: dict, container: dict, root: Path) -> dict[str, Path]:
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        mounts: dict[str, Path] = {}
        root.mkdir(parents=True, exist_ok=True)
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            local = root / "mounts" / mount["mountPath"].strip("/")
            local.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                data = self._lookup(self.config_maps, namespace, volume["configMap"]["name"], "ConfigMap")
                items = volume["configMap"].get("items") or [{"key": key, "path": key} for key in data]
                for item in items:
                    (local / item["path"]).write_text(data[item["key"]])
                if mount.get("subPath"):
                    local = local / mount["subPath"]
            mounts[mount["mountPath"]] = local
        return mounts

    def _env_source(self, namespace: str, source: dict) -> dict[str, str]:
        kind, store = ("configMapRef", self.config_maps) if "configMapRef" in source else ("secretRef", self.secrets)
        ref = source[kind]
        try:
            return dict(self._lookup(store, namespace, ref["name"], kind))
        except LookupError:
            if ref.get("optional"):
                return {}
            raise

    def _env_value(self, namespace: str, item: dict) -> str:
        if "valueFrom" not in item:
            return item.get("value", "")
        source = item["valueFrom"]
        for kind, store in (("secretKeyRef", self.secrets), ("configMapKeyRef", self.config_maps)):
            if kind in source:
                data = self._lookup(store, namespace, source[kind]["name"], kind)
                if source[kind]["key"] not in data:
                    raise LookupError(f"{kind} {source[kind]['name']} has no key {source[kind]['key']}")
                return data[source[kind]["key"]]
        raise LookupError(f"unsupported valueFrom {source}")

    @staticmethod
    def _lookup(store: dict, namespace: str, name: str, kind: str) -> dict[str, str]:
        if (namespace, name) not in store:
            raise LookupError(f'{kind} "{name}" not found in namespace {namespace}')
        return store[(namespace, name)]

    def _enforce_memory_limits(self) -> None:
        """The kubelet's OOM killer: a pod above its memory limit is SIGKILLed and reported OOMKilled."""
        while not self._stopping.wait(1.0):  # one pass over /proc costs ~30 ms
            with self._lock:
                jobs = [job for job in self.jobs.values() if job.process and job.process.poll() is None]
            if not jobs:
                continue
            rss = rss_by_process_group()
            for job in jobs:
                limit = job.memory_limit
                if limit is not None and rss.get(job.process.pid, 0) > limit:
                    job.oom_killed = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(job.process.pid, signal.SIGKILL)

    # --- helpers for tests -----------------------------------------------------------------------
    def root_writes(self) -> dict[str, list[str]]:
        """Files that pods wrote to their read-only root filesystem, per Job (should be none)."""
        with self._lock:
            jobs = list(self.history)
        return {
            job.name: sorted(str(path.relative_to(job.rootfs)) for path in job.rootfs.rglob("*"))
            for job in jobs
            if job.rootfs and any(job.rootfs.iterdir())
        }

    def job_for_run(self, run_id: str, component: str = "run_worker") -> RunningJob | None:
        with self._lock:
            jobs = list(self.jobs.values())
        return next(
            (
                job
                for job in jobs
                if job.body["metadata"].get("labels", {}).get("dagster/run-id") == run_id
                and job.body["metadata"]["labels"].get("app.kubernetes.io/component") == component
            ),
            None,
        )

    def stop(self, job: RunningJob, sig: int = signal.SIGTERM) -> None:
        """Signal the pod's process group; SIGKILL what is left after the grace period."""
        process = job.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(self.grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:
            pass

    def shutdown(self) -> None:
        self._stopping.set()
        with self._lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            if job.process and job.process.poll() is None:
                os.killpg(job.process.pid, signal.SIGKILL)
                job.process.wait(10)
        self.httpd.shutdown()
        self.httpd.server_close()


def _status(code: int, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 300 else "Failure",
        "message": message,
        "code": code,
    }
