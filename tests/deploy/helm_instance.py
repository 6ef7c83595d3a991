"""The Dagster instance (``dagster.yaml``) the official chart renders from ODF's values.

A Python port of the chart's ``templates/configmap-instance.yaml`` and
``templates/helpers/instance/_run-coordinator.tpl`` (github.com/dagster-io/dagster, Apache-2.0;
configmap-instance.yaml @ 835892b45aaa0917bc97102968fe062155b64e19, _run-coordinator.tpl @
7b8754699eee13e80a713aec24fa1947d5fe2a14), limited to the daemon's settings: run coordinator, run
monitoring, run retries, and ``additionalInstanceConfig`` appended at the top level. Keys the
template does not read are ignored by Helm, so they are reported here as errors instead: the chart's
schema leaves ``runMonitoring`` and ``runRetries`` free-form, where a typo would pass unnoticed.
"""

from __future__ import annotations

from typing import Any

# Every key the template reads; anything else in these maps is dropped silently by Helm.
RUN_MONITORING_KEYS = {
    "enabled",
    "startTimeoutSeconds",
    "cancelTimeoutSeconds",
    "maxResumeRunAttempts",
    "pollIntervalSeconds",
    "freeSlotsAfterRunEndSeconds",
}
RUN_RETRIES_KEYS = {"enabled", "maxRetries"}
QUEUED_KEYS = {
    "maxConcurrentRuns",
    "tagConcurrencyLimits",
    "dequeueIntervalSeconds",
    "dequeueUseThreads",
    "dequeueNumWorkers",
    "blockOpConcurrencyLimitedRuns",
}


class RenderError(ValueError):
    pass


def merge_values(defaults: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """The values Helm hands the templates: ``overlay`` (a values file) over the chart's
    ``defaults``. Maps merge key by key, lists and scalars are replaced, and a null in the overlay
    removes the default's key (Helm's coalescing)."""
    merged = dict(defaults)
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(defaults.get(key), dict):
            merged[key] = merge_values(defaults[key], value)
        else:
            merged[key] = value
    return merged


def _unread(section: str, values: dict[str, Any], known: set[str]) -> list[str]:
    return [f"{section}.{key}: not rendered by the chart" for key in sorted(set(values) - known)]


def _queued_run_coordinator(config: dict[str, Any]) -> dict[str, Any]:
    rendered: dict[str, Any] = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
    if not any(config.values()):  # sprig's `compact (values …)` drops nil, false, 0, "" and empty collections
        return rendered
    body: dict[str, Any] = {
        "max_concurrent_runs": -1 if config.get("maxConcurrentRuns") is None else config["maxConcurrentRuns"]
    }
    for helm_key, key in (
        ("tagConcurrencyLimits", "tag_concurrency_limits"),
        ("dequeueIntervalSeconds", "dequeue_interval_seconds"),
        ("dequeueUseThreads", "dequeue_use_threads"),
        ("dequeueNumWorkers", "dequeue_num_workers"),
    ):
        if config.get(helm_key):  # Go templates: 0, false and empty are falsy, so they are not rendered
            body[key] = config[helm_key]
    if config.get("blockOpConcurrencyLimitedRuns"):
        block = config["blockOpConcurrencyLimitedRuns"]
        body["block_op_concurrency_limited_runs"] = {
            "enabled": block.get("enabled"),
            "op_concurrency_slot_buffer": block.get("opConcurrencySlotBuffer"),
        }
    rendered["config"] = body
    return rendered


def render_daemon_instance(values: dict[str, Any]) -> dict[str, Any]:
    """run_coordinator, run_monitoring, run_retries and the additionalInstanceConfig keys, as the chart renders them."""
    daemon = values.get("dagsterDaemon", {})
    problems: list[str] = []
    rendered: dict[str, Any] = {}
    coordinator = daemon.get("runCoordinator", {})
    if daemon.get("enabled") and coordinator.get("enabled"):
        if coordinator.get("type") != "QueuedRunCoordinator":
            raise RenderError(f"only the QueuedRunCoordinator is ported, not {coordinator.get('type')}")
        queued = coordinator.get("config", {}).get("queuedRunCoordinator", {})
        problems += _unread("dagsterDaemon.runCoordinator.config.queuedRunCoordinator", queued, QUEUED_KEYS)
        rendered["run_coordinator"] = _queued_run_coordinator(queued)
    monitoring = daemon.get("runMonitoring", {})
    problems += _unread("dagsterDaemon.runMonitoring", monitoring, RUN_MONITORING_KEYS)
    if daemon.get("enabled") and monitoring.get("enabled"):
        block: dict[str, Any] = {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring.get("startTimeoutSeconds"),
        }
        if monitoring.get("cancelTimeoutSeconds") is not None:
            block["cancel_timeout_seconds"] = monitoring["cancelTimeoutSeconds"]
        if monitoring.get("maxResumeRunAttempts") is not None:
            block["max_resume_run_attempts"] = monitoring["maxResumeRunAttempts"]
        block["poll_interval_seconds"] = monitoring.get("pollIntervalSeconds")
        block["free_slots_after_run_end_seconds"] = monitoring.get("freeSlotsAfterRunEndSeconds")
        rendered["run_monitoring"] = block
    retries = daemon.get("runRetries", {})
    problems += _unread("dagsterDaemon.runRetries", retries, RUN_RETRIES_KEYS)
    if daemon.get("enabled") and retries.get("enabled"):
        rendered["run_retries"] = {
            "enabled": retries["enabled"],
            **({"max_retries": retries["maxRetries"]} if retries.get("maxRetries") else {}),
        }
    for key, value in (values.get("additionalInstanceConfig") or {}).items():
        if key in rendered:
            problems.append(f"additionalInstanceConfig.{key}: the chart renders {key} too (a YAML key twice)")
        rendered[key] = value
    if problems:
        raise RenderError("; ".join(problems))
    return rendered
