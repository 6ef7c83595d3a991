"""The Kubernetes "restricted" Pod Security Standard (kubernetes.io/docs/concepts/security/pod-security-standards,
policy version latest), checked on a pod spec, plus ODF's own rule: a read-only root filesystem.

Every rule of the baseline and restricted levels that a pod spec can break is checked: host
namespaces, privileged containers, added capabilities, hostPath volumes and host ports, /proc mount,
sysctls, volume types, privilege escalation, non-root user, seccomp profile, dropped capabilities.
"""

from __future__ import annotations

from typing import Any

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}


def _get(mapping: dict[str, Any] | None, camel: str) -> Any:
    """A field by its API name, also in the snake_case that dagster-k8s configs use."""
    if not mapping:
        return None
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return mapping.get(camel, mapping.get(snake))


def restricted_violations(pod_spec: dict[str, Any], where: str) -> list[str]:
    """Every way ``pod_spec`` breaks the restricted profile or runs with a writable root; [] if none."""
    problems: list[str] = []
    pod_context = _get(pod_spec, "securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if _get(pod_spec, field):
            problems.append(f"{where}: {field} is set")
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"{where}: volume {volume.get('name')} of type {sorted(kinds)} is not allowed")
    for sysctl in _get(pod_context, "sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"{where}: sysctl {sysctl.get('name')} is not allowed")
    pod_non_root = _get(pod_context, "runAsNonRoot") is True
    pod_seccomp = (_get(pod_context, "seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        problems.append(f"{where}: pod seccompProfile {pod_seccomp}")
    if _get(pod_context, "runAsUser") == 0:
        problems.append(f"{where}: pod runAsUser 0")
    containers = [
        (kind, container)
        for kind in ("initContainers", "containers", "ephemeralContainers")
        for container in (_get(pod_spec, kind) or [])
    ]
    if not any(kind == "containers" for kind, _ in containers):
        problems.append(f"{where}: no containers")
    for kind, container in containers:
        name = f"{where} {kind[:-1]} {container.get('name')}"
        context = _get(container, "securityContext") or {}
        if _get(context, "privileged"):
            problems.append(f"{name}: privileged")
        if _get(context, "allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        non_root = _get(context, "runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            problems.append(f"{name}: runAsNonRoot is not true")
        if _get(context, "runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (_get(context, "seccompProfile") or {}).get("type")
        if (seccomp or pod_seccomp) not in ALLOWED_SECCOMP:
            problems.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        capabilities = _get(context, "capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if (_get(context, "procMount") or "Default") != "Default":
            problems.append(f"{name}: procMount {_get(context, 'procMount')}")
        for port in container.get("ports") or []:
            if _get(port, "hostPort"):
                problems.append(f"{name}: hostPort {_get(port, 'hostPort')}")
        if _get(context, "readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
    return problems


def job_pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]
