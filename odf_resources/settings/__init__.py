"""The one place that reads ODF's environment variables; everything else takes plain values.

``ODF_*`` variables are the fields of one pydantic-settings model (``model.OdfSettings``: typed,
bounded, documented); ``current()`` validates them together, so any invalid one fails with one line
naming the variable, its value and what is expected. The functions below are what the rest of ODF
calls. Other tools' variables (AWS, OpenLineage, Dagster, Kubernetes) are read as those tools
define them.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from odf_resources.settings.credentials import MIN_SECRET_CHARS, credential_values
from odf_resources.settings.defaults import (
    DEFAULT_AUTOMATION_INTERVAL_SECONDS,
    DEFAULT_CSV_READ_CHUNK_BYTES,
    DEFAULT_FETCH_DEADLINE_SECONDS,
    DEFAULT_LANDING_MAX_FILE_BYTES,
    DEFAULT_LANDING_RETRY_SECONDS,
    DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS,
    DEFAULT_LOCAL_STORAGE,
    DEFAULT_MODEL_MIN_ACCURACY,
    DEFAULT_PIPELINE_OWNER,
    DRIFT_DEFAULTS,
)
from odf_resources.settings.errors import ENV_PREFIX, SettingsError, variable_name
from odf_resources.settings.other_tools import (
    OpenLineageEnvironment,
    dagster_home,
    lineage_namespace,
    openlineage_environment,
    s3_endpoint_url,
)

if TYPE_CHECKING:
    from odf_resources.settings.model import OdfSettings

__all__ = [
    "DEFAULT_LOCAL_STORAGE",
    "DEFAULT_PIPELINE_OWNER",
    "MIN_SECRET_CHARS",
    "OdfSettings",
    "SettingsError",
    "credential_values",
    "current",
    "dagster_home",
    "lineage_namespace",
    "OpenLineageEnvironment",
    "openlineage_environment",
    "s3_endpoint_url",
    "variable_name",
]

__all__ += [
    "DEFAULT_AUTOMATION_INTERVAL_SECONDS",
    "DEFAULT_CSV_READ_CHUNK_BYTES",
    "DEFAULT_FETCH_DEADLINE_SECONDS",
    "DEFAULT_LANDING_MAX_FILE_BYTES",
    "DEFAULT_LANDING_RETRY_SECONDS",
    "DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS",
    "DEFAULT_MODEL_MIN_ACCURACY",
    "DRIFT_DEFAULTS",
]
STEP_EXECUTOR_ENV = variable_name("step_executor")


def __getattr__(name: str):
    # The model (and pydantic) load on first use: the odf CLI's --help does not need them.
    if name == "OdfSettings":
        from odf_resources.settings.model import OdfSettings

        return OdfSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def current() -> OdfSettings:
    """The ``ODF_*`` settings as the environment is now, validated (cached per set of values)."""
    snapshot = tuple(sorted((k, v) for k, v in os.environ.items() if k[: len(ENV_PREFIX)].upper() == ENV_PREFIX))
    return _validated(snapshot)


@functools.lru_cache(maxsize=16)
def _validated(snapshot: tuple[tuple[str, str], ...]) -> OdfSettings:
    from pydantic import ValidationError

    from odf_resources.settings.model import OdfSettings

    try:
        return OdfSettings()  # pydantic-settings reads the environment; ``snapshot`` only keys the cache
    except ValidationError as error:
        raise _one_line(error) from None


def _one_line(error) -> SettingsError:
    from odf_resources.settings.errors import one_line
    from odf_resources.settings.model import OdfSettings

    return one_line(error, OdfSettings.model_fields)


def is_set(name: str) -> bool:
    """Whether the operator set ``name``: resources then take it as ``dg.EnvVar`` (the UI shows its source)."""
    return bool(os.environ.get(name, "").strip())


# --- Storage and sources -------------------------------------------------------------------------


def storage_uri() -> str:
    """``ODF_STORAGE``: a local directory (default ``./.odf/storage``) or ``s3://bucket/prefix``."""
    return current().storage


def storage_is_set() -> bool:
    return is_set("ODF_STORAGE")


def is_shared_storage(uri: str) -> bool:
    """Whether every pod sees the same objects under ``uri`` (object storage, not a pod's own disk)."""
    return uri.strip().startswith("s3://")


def pod_storage_risk() -> str | None:
    """Why Parquet written to local storage would be lost here, or None: each step in its own pod
    (``ODF_STEP_EXECUTOR=k8s``), or this process is a run/step pod that dagster-k8s launched (it sets
    ``DAGSTER_RUN_JOB_NAME``); a pod's disk goes away with the pod."""
    if step_executor_choice() == "k8s":
        return f"{STEP_EXECUTOR_ENV}=k8s runs every step in a pod of its own"
    if is_set("DAGSTER_RUN_JOB_NAME"):
        return "this process runs in a pod launched by Kubernetes (DAGSTER_RUN_JOB_NAME is set)"
    return None


def local_storage_refusal(uri: str, reason: str) -> str:
    """The message that refuses local storage ``uri`` where ``reason`` says pods would lose it."""
    return (
        f"ODF_STORAGE={uri!r} is a local folder, but {reason}: each pod would write Parquet to its own "
        "disk and the data would be lost when the pod ends. Set ODF_STORAGE=s3://<bucket>/<prefix> "
        "(helm/README.md, Secret odf-env)."
    )


def _paths(raw: str) -> list[Path]:
    return [Path(item.strip()).expanduser() for item in raw.split(os.pathsep) if item.strip()]


def extra_registry_paths() -> list[Path]:
    """``ODF_SOURCES``: extra source registry files, separated by the OS path separator."""
    return _paths(current().sources)


def extra_file_roots() -> list[Path]:
    """``ODF_FILE_ROOTS``: directories ``file:`` sources may read besides the registries' own folders."""
    return [path.resolve() for path in _paths(current().file_roots)]


def allowed_source_hosts() -> list[str]:
    """``ODF_ALLOWED_HOSTS``: comma-separated host allowlist for HTTP(S) sources (see the model)."""
    return [host.strip().lower() for host in current().allowed_hosts.split(",") if host.strip()]


def fetch_deadline_seconds() -> float:
    """``ODF_FETCH_DEADLINE_SECONDS``: wall clock for one source download, retries included (default 300)."""
    return current().fetch_deadline_seconds


def source_ca_bundle_variable() -> str | None:
    """Which variable names the CA certificates for https sources: ``REQUESTS_CA_BUNDLE``, else
    ``SSL_CERT_FILE``; None when neither is set (certifi's). Resources take it as ``dg.EnvVar``."""
    return next((name for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE") if is_set(name)), None)


def retry_delay_seconds() -> float:
    """``ODF_RETRY_DELAY_SECONDS``: first delay of run-level retries of unavailable sources (default 10)."""
    return current().retry_delay_seconds


def landing_max_file_bytes() -> int:
    """``ODF_LANDING_MAX_FILE_BYTES``: largest landing-zone file read (default 256 MiB)."""
    return current().landing_max_file_bytes


def csv_read_chunk_bytes() -> int:
    """``ODF_CSV_READ_CHUNK_BYTES``: bytes per chunk of streaming CSV reads (default 1 MiB); 0 keeps Polars' own."""
    return current().csv_read_chunk_bytes


# --- Orchestration -------------------------------------------------------------------------------


def automation_interval_seconds() -> int:
    """``ODF_AUTOMATION_INTERVAL_SECONDS``: least time between two evaluations of the automation sensor."""
    return current().automation_interval_seconds


def schedules_default_running() -> bool:
    """``ODF_SCHEDULES_DEFAULT_STATUS``: ``running`` starts the schedules of sources that have not ended
    when the code location loads; default ``stopped`` (turn them on in the UI or with this variable)."""
    return current().schedules_default_status == "running"


def sensor_min_interval_seconds() -> int:
    """``ODF_SENSOR_MIN_INTERVAL_SECONDS``: least time between run-failure sensor ticks (default 30)."""
    return current().sensor_min_interval_seconds


def queue_state_interval_seconds() -> int:
    """``ODF_QUEUE_STATE_INTERVAL_SECONDS``: least time between queued-run sensor ticks (default 10)."""
    return current().queue_state_interval_seconds


def alert_webhook_url() -> str | None:
    """``ODF_ALERT_WEBHOOK_URL``: where the run-failure sensor POSTs alerts (optional; a secret)."""
    return current().alert_webhook_url


def alert_webhook_timeout_seconds() -> float:
    """``ODF_ALERT_WEBHOOK_TIMEOUT_SECONDS``: per-POST timeout of alerts (default 5)."""
    return current().alert_webhook_timeout_seconds


def landing_sensor_interval_seconds() -> int:
    """``ODF_LANDING_SENSOR_INTERVAL_SECONDS``: the least time between two landing sensor ticks (default 30)."""
    return current().landing_sensor_interval_seconds


def landing_retry_seconds() -> float:
    """``ODF_LANDING_RETRY_SECONDS``: wait before the first re-request of a failed date (default 60)."""
    return current().landing_retry_seconds


def step_executor_choice() -> str | None:
    """``ODF_STEP_EXECUTOR``: ``k8s`` runs each step in its own pod, ``in_process`` runs a run's steps in
    the run's own process; unset keeps Dagster's default executor (a process per step)."""
    return current().step_executor


def step_service_account() -> str | None:
    """``ODF_STEP_SERVICE_ACCOUNT``: the Kubernetes service account of step pods; unset, the run pod's."""
    return current().step_service_account


# --- Predictions ---------------------------------------------------------------------------------


def external_model_uri() -> str:
    """``ODF_IRIS_MODEL_URI``: an existing ONNX model (local path or s3://bucket/key) used instead of training."""
    return current().iris_model_uri


def pinned_model_sha256() -> str | None:
    """``ODF_IRIS_MODEL_SHA256``: the SHA-256 (hex) the published iris model must have. Unset: not pinned."""
    return current().iris_model_sha256


def model_min_accuracy() -> float:
    """``ODF_IRIS_MODEL_MIN_ACCURACY``: least holdout accuracy of a model to be published (default 0.85)."""
    return current().iris_model_min_accuracy


def model_external_data_allowed() -> bool:
    """``ODF_IRIS_MODEL_ALLOW_EXTERNAL_DATA``: ``true`` accepts a local ONNX model with external data files."""
    return current().iris_model_allow_external_data


def drift_thresholds() -> dict[str, float]:
    """``ODF_DRIFT_PSI_WARN`` / ``_ERROR``, ``ODF_DRIFT_RANGE_WARN`` / ``_ERROR`` and
    ``ODF_DRIFT_RANGE_MARGIN`` (see the model); each ERROR limit is not below its WARN."""
    settings = current()
    return {name: getattr(settings, f"drift_{name}") for name in DRIFT_DEFAULTS}


# --- Lineage -------------------------------------------------------------------------------------


def lineage_sensor_interval_seconds() -> int:
    """``ODF_LINEAGE_SENSOR_INTERVAL_SECONDS``: least time between lineage sensor ticks (default 30)."""
    return current().lineage_sensor_interval_seconds


def pipeline_owner() -> str:
    """``ODF_PIPELINE_OWNER``: the Dagster owner of every asset, the team that runs the pipeline
    (``team:name`` or an email; default ``team:data-platform``). Sources' publishers are metadata."""
    return current().pipeline_owner


# --- The odf CLI ---------------------------------------------------------------------------------


def odf_home() -> str:
    """``ODF_HOME``: the project folder whose ``.odf/`` holds the local instance and storage; unset, the
    ``odf`` CLI walks up from the current folder to the nearest ``pyproject.toml``."""
    return current().home


def dagster_url(default: str) -> str:
    """``ODF_DAGSTER_URL``: the Dagster webserver the ``odf`` CLI's remote commands talk to. Unset, the
    default without validating anything: the CLI's parser shows it, and ``odf --help`` stays light."""
    return current().dagster_url or default if is_set("ODF_DAGSTER_URL") else default
