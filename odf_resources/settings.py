"""The one place that reads ODF's environment variables; everything else takes plain values."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOCAL_STORAGE = "./.odf/storage"


def storage_uri() -> str:
    """``ODF_STORAGE``: a local directory (default ``./.odf/storage``) or ``s3://bucket/prefix``."""
    return os.environ.get("ODF_STORAGE", "").strip() or DEFAULT_LOCAL_STORAGE


def is_shared_storage(uri: str) -> bool:
    """Whether every pod sees the same objects under ``uri`` (object storage, not a pod's own disk)."""
    return uri.strip().startswith("s3://")


def pod_storage_risk() -> str | None:
    """Why Parquet written to local storage would be lost here, or None: each step in its own pod
    (``ODF_STEP_EXECUTOR=k8s``), or this process is a run/step pod that dagster-k8s launched (it sets
    ``DAGSTER_RUN_JOB_NAME``); a pod's disk goes away with the pod."""
    if step_executor_choice() == "k8s":
        return f"{STEP_EXECUTOR_ENV}=k8s runs every step in a pod of its own"
    if os.environ.get("DAGSTER_RUN_JOB_NAME", "").strip():
        return "this process runs in a pod launched by Kubernetes (DAGSTER_RUN_JOB_NAME is set)"
    return None


def local_storage_refusal(uri: str, reason: str) -> str:
    """The message that refuses local storage ``uri`` where ``reason`` says pods would lose it."""
    return (
        f"ODF_STORAGE={uri!r} is a local folder, but {reason}: each pod would write Parquet to its own "
        "disk and the data would be lost when the pod ends. Set ODF_STORAGE=s3://<bucket>/<prefix> "
        "(helm/README.md, Secret odf-env)."
    )


def s3_endpoint_url() -> str | None:
    """``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``: the S3 endpoint ODF's clients use, without any
    ``user:password@`` (S3 signs requests with the AWS keys; userinfo would only reach error messages)."""
    raw = (os.environ.get("AWS_ENDPOINT_URL_S3", "") or os.environ.get("AWS_ENDPOINT_URL", "")).strip()
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


# Settings whose values (or parts of URL values) are credentials: scrubbed from every log record.
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OPENLINEAGE_API_KEY")
_SECRET_URL_VARIABLES = ("ODF_STORAGE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "OPENLINEAGE_URL")
# A webhook URL's path and query are its token (Slack, Teams, generic hooks).
_SECRET_PATH_URL_VARIABLES = ("ODF_ALERT_WEBHOOK_URL",)
# Shorter values are too likely to occur in ordinary text to be scrubbed everywhere.
MIN_SECRET_CHARS = 6


def credential_values() -> list[str]:
    """Every credential the environment gives ODF: secret keys, tokens, URL passwords, query values
    and webhook paths; longest first, so a value containing another is scrubbed whole."""
    names = _SECRET_VARIABLES + _SECRET_URL_VARIABLES + _SECRET_PATH_URL_VARIABLES
    return list(_credentials(tuple(os.environ.get(name, "").strip() for name in names)))


@functools.lru_cache(maxsize=8)
def _credentials(raw_values: tuple[str, ...]) -> tuple[str, ...]:
    from urllib.parse import parse_qsl, urlsplit

    values = dict(zip(_SECRET_VARIABLES + _SECRET_URL_VARIABLES + _SECRET_PATH_URL_VARIABLES, raw_values, strict=True))
    found = {values[name] for name in _SECRET_VARIABLES}
    for name in _SECRET_URL_VARIABLES + _SECRET_PATH_URL_VARIABLES:
        raw = values[name]
        if "://" not in raw:
            continue
        authority = raw.partition("://")[2].partition("/")[0]
        userinfo = authority.rpartition("@")[0]
        found.update(userinfo.split(":", 1))
        found.add(userinfo)
        try:
            parts = urlsplit(raw)
        except ValueError:
            continue
        found.update(value for _, value in parse_qsl(parts.query))
        if name in _SECRET_PATH_URL_VARIABLES and parts.path.strip("/"):
            found.add(parts.path)
            found.update(segment for segment in parts.path.split("/") if len(segment) >= 16)
    return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True))


def extra_registry_paths() -> list[Path]:
    """``ODF_SOURCES``: extra source registry files, separated by the OS path separator."""
    raw = os.environ.get("ODF_SOURCES", "").strip()
    return [Path(item).expanduser() for item in raw.split(os.pathsep) if item.strip()]


def extra_file_roots() -> list[Path]:
    """``ODF_FILE_ROOTS``: directories ``file:`` sources may read besides the registries' own folders."""
    raw = os.environ.get("ODF_FILE_ROOTS", "").strip()
    return [Path(item).expanduser().resolve() for item in raw.split(os.pathsep) if item.strip()]


def allowed_source_hosts() -> list[str]:
    """``ODF_ALLOWED_HOSTS``: comma-separated host allowlist for HTTP(S) sources. Empty allows any host
    with public addresses; loopback, private and other non-public addresses need their host named here."""
    raw = os.environ.get("ODF_ALLOWED_HOSTS", "")
    return [host.strip().lower() for host in raw.split(",") if host.strip()]


DEFAULT_FETCH_DEADLINE_SECONDS = 300.0


def fetch_deadline_seconds() -> float:
    """``ODF_FETCH_DEADLINE_SECONDS``: wall clock for one source download, retries included (default 300)."""
    return positive_number("ODF_FETCH_DEADLINE_SECONDS", DEFAULT_FETCH_DEADLINE_SECONDS, float)


def source_ca_bundle_variable() -> str | None:
    """Which variable names the CA certificates for https sources: ``REQUESTS_CA_BUNDLE``, else
    ``SSL_CERT_FILE``; None when neither is set (certifi's). Resources take it as ``dg.EnvVar``."""
    return next((name for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE") if is_set(name)), None)


def retry_delay_seconds() -> float:
    """``ODF_RETRY_DELAY_SECONDS``: first delay of run-level retries of unavailable sources (default 10)."""
    raw = os.environ.get("ODF_RETRY_DELAY_SECONDS", "").strip() or "10"
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"ODF_RETRY_DELAY_SECONDS={raw!r}: expected a number of seconds") from None


def positive_number(name: str, default: float, kind: type = int) -> float:
    """A positive number of seconds from ``name`` (``kind`` int or float); unset gives ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name}={raw!r}: expected a positive {'whole ' if kind is int else ''}number of seconds")
    return value


DEFAULT_LANDING_MAX_FILE_BYTES = 256 << 20


def landing_max_file_bytes() -> int:
    """``ODF_LANDING_MAX_FILE_BYTES``: largest landing-zone file read (default 256 MiB); larger ones are
    rejected whole."""
    raw = os.environ.get("ODF_LANDING_MAX_FILE_BYTES", "").strip()
    if not raw:
        return DEFAULT_LANDING_MAX_FILE_BYTES
    if not raw.isdigit() or int(raw) == 0:
        raise ValueError(f"ODF_LANDING_MAX_FILE_BYTES={raw!r}: expected a positive whole number of bytes")
    return int(raw)


DEFAULT_CSV_READ_CHUNK_BYTES = 4 << 20


def csv_read_chunk_bytes() -> int:
    """``ODF_CSV_READ_CHUNK_BYTES``: bytes per chunk of streaming CSV reads (default 4 MiB); 0 keeps Polars' own."""
    raw = os.environ.get("ODF_CSV_READ_CHUNK_BYTES", "").strip()
    if not raw:
        return DEFAULT_CSV_READ_CHUNK_BYTES
    if not raw.isdigit():
        raise ValueError(
            f"ODF_CSV_READ_CHUNK_BYTES={raw!r}: expected a whole number of bytes (0 keeps Polars' default)"
        )
    return int(raw)


DEFAULT_AUTOMATION_INTERVAL_SECONDS = 30


def automation_interval_seconds() -> int:
    """``ODF_AUTOMATION_INTERVAL_SECONDS``: least time between two evaluations of the automation sensor (default 30)."""
    return int(positive_number("ODF_AUTOMATION_INTERVAL_SECONDS", DEFAULT_AUTOMATION_INTERVAL_SECONDS, int))


# Prediction drift: population stability index of the predicted classes, and the share of a
# feature's values outside its training range (plus a margin of that range's width).
DRIFT_DEFAULTS = {"psi_warn": 0.1, "psi_error": 0.25, "range_warn": 0.01, "range_error": 0.05, "range_margin": 0.1}


def drift_thresholds() -> dict[str, float]:
    """``ODF_DRIFT_PSI_WARN`` / ``_ERROR`` (default 0.1 / 0.25), ``ODF_DRIFT_RANGE_WARN`` / ``_ERROR``
    (fraction of values outside the training range, default 0.01 / 0.05) and ``ODF_DRIFT_RANGE_MARGIN``
    (widening of that range, as a fraction of its width, default 0.1). Each ERROR limit must not be below its WARN."""
    values = {}
    for name, default in DRIFT_DEFAULTS.items():
        variable = f"ODF_DRIFT_{name.upper()}"
        raw = os.environ.get(variable, "").strip()
        try:
            values[name] = float(raw) if raw else default
        except ValueError:
            raise ValueError(f"{variable}={raw!r}: expected a number") from None
        if not values[name] >= 0 or values[name] == float("inf"):
            raise ValueError(f"{variable}={raw!r}: expected a finite number >= 0")
    for kind in ("psi", "range"):
        if values[f"{kind}_error"] < values[f"{kind}_warn"]:
            raise ValueError(f"ODF_DRIFT_{kind.upper()}_ERROR must not be below ODF_DRIFT_{kind.upper()}_WARN")
    return values


def is_set(name: str) -> bool:
    """Whether the operator set ``name``: resources then take it as ``dg.EnvVar`` (the UI shows its source)."""
    return bool(os.environ.get(name, "").strip())


# --- Orchestration -------------------------------------------------------------------------------


def schedules_default_running() -> bool:
    """``ODF_SCHEDULES_DEFAULT_STATUS``: ``running`` starts the schedules of sources that have not ended
    when the code location loads; default ``stopped`` (turn them on in the UI or with this variable)."""
    raw = os.environ.get("ODF_SCHEDULES_DEFAULT_STATUS", "stopped").strip().lower()
    if raw not in ("running", "stopped"):
        raise ValueError(f"ODF_SCHEDULES_DEFAULT_STATUS={raw!r}: expected 'running' or 'stopped'")
    return raw == "running"


def sensor_min_interval_seconds() -> int:
    """``ODF_SENSOR_MIN_INTERVAL_SECONDS``: least time between run-failure sensor ticks (default 30)."""
    return int(positive_number("ODF_SENSOR_MIN_INTERVAL_SECONDS", 30, int))


# A tick with no queued run is one query of the run storage; 10 s keeps a queued run's tag close
# to what `odf status` says at any moment without a noticeable load on the daemon or the database.
DEFAULT_QUEUE_STATE_INTERVAL_SECONDS = 10


def queue_state_interval_seconds() -> int:
    """``ODF_QUEUE_STATE_INTERVAL_SECONDS``: least time between queued-run sensor ticks (default 10)."""
    return int(positive_number("ODF_QUEUE_STATE_INTERVAL_SECONDS", DEFAULT_QUEUE_STATE_INTERVAL_SECONDS, int))


def alert_webhook_url() -> str | None:
    """``ODF_ALERT_WEBHOOK_URL``: where the run-failure sensor POSTs alerts (optional; a secret)."""
    return os.environ.get("ODF_ALERT_WEBHOOK_URL", "").strip() or None


def alert_webhook_timeout_seconds() -> float:
    """``ODF_ALERT_WEBHOOK_TIMEOUT_SECONDS``: per-POST timeout of alerts (default 5)."""
    return positive_number("ODF_ALERT_WEBHOOK_TIMEOUT_SECONDS", 5.0, float)


DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS = 30


def landing_sensor_interval_seconds() -> int:
    """``ODF_LANDING_SENSOR_INTERVAL_SECONDS``: the least time between two landing sensor ticks (default 30)."""
    return int(positive_number("ODF_LANDING_SENSOR_INTERVAL_SECONDS", DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS, int))


DEFAULT_LANDING_RETRY_SECONDS = 60.0


def landing_retry_seconds() -> float:
    """``ODF_LANDING_RETRY_SECONDS``: wait before the first re-request of a failed date (default 60; 0 retries
    at once)."""
    raw = os.environ.get("ODF_LANDING_RETRY_SECONDS", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_LANDING_RETRY_SECONDS
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"ODF_LANDING_RETRY_SECONDS={raw!r}: expected a number of seconds ≥ 0")
    return value


STEP_EXECUTOR_ENV = "ODF_STEP_EXECUTOR"


def step_executor_choice() -> str | None:
    """``ODF_STEP_EXECUTOR``: ``k8s`` runs each step in its own pod; unset keeps Dagster's default executor."""
    choice = os.environ.get(STEP_EXECUTOR_ENV, "").strip().lower()
    if choice and choice != "k8s":
        raise ValueError(f"{STEP_EXECUTOR_ENV}={choice!r}: expected 'k8s' or unset")
    return choice or None


def step_service_account() -> str | None:
    """``ODF_STEP_SERVICE_ACCOUNT``: the Kubernetes service account of step pods (least privilege:
    no Kubernetes rights); unset, they share the run pod's."""
    return os.environ.get("ODF_STEP_SERVICE_ACCOUNT", "").strip() or None


# --- Predictions ---------------------------------------------------------------------------------


def external_model_uri() -> str:
    """``ODF_IRIS_MODEL_URI``: an existing ONNX model (local path or s3://bucket/key) used instead of training."""
    return os.environ.get("ODF_IRIS_MODEL_URI", "").strip()


def pinned_model_sha256() -> str | None:
    """``ODF_IRIS_MODEL_SHA256``: the SHA-256 (hex) the published iris model must have; checked before the
    model is published and before every use, so a swapped model (and card) is refused. Unset: not pinned."""
    raw = os.environ.get("ODF_IRIS_MODEL_SHA256", "").strip().lower()
    if raw and (len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw)):
        raise ValueError("ODF_IRIS_MODEL_SHA256: expected 64 hexadecimal characters")
    return raw or None


DEFAULT_MODEL_MIN_ACCURACY = 0.85


def model_min_accuracy() -> float:
    """``ODF_IRIS_MODEL_MIN_ACCURACY``: least holdout accuracy of a model to be published (default 0.85)."""
    raw = os.environ.get("ODF_IRIS_MODEL_MIN_ACCURACY", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_MODEL_MIN_ACCURACY
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ValueError(f"ODF_IRIS_MODEL_MIN_ACCURACY={raw!r}: expected a number from 0 to 1")
    return value


def model_external_data_allowed() -> bool:
    """``ODF_IRIS_MODEL_ALLOW_EXTERNAL_DATA``: ``true`` accepts an operator's local ONNX model whose weights
    sit in external data files inside the model's own folder (inlined when published); default refused."""
    raw = os.environ.get("ODF_IRIS_MODEL_ALLOW_EXTERNAL_DATA", "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ValueError(f"ODF_IRIS_MODEL_ALLOW_EXTERNAL_DATA={raw!r}: expected 'true' or 'false'")
    return raw == "true"


# --- Lineage -------------------------------------------------------------------------------------


def lineage_sensor_interval_seconds() -> int:
    """``ODF_LINEAGE_SENSOR_INTERVAL_SECONDS``: least time between lineage sensor ticks (default 30)."""
    return int(positive_number("ODF_LINEAGE_SENSOR_INTERVAL_SECONDS", 30, int))


def lineage_namespace(default: str) -> str:
    """``OPENLINEAGE_NAMESPACE``: the OpenLineage job namespace (default ``odf``)."""
    return os.environ.get("OPENLINEAGE_NAMESPACE", "").strip() or default


DEFAULT_PIPELINE_OWNER = "team:data-platform"
_OWNER = re.compile(r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


def pipeline_owner() -> str:
    """``ODF_PIPELINE_OWNER``: the Dagster owner of every asset, the team that runs the pipeline
    (``team:name`` or an email; default ``team:data-platform``). Sources' publishers are metadata."""
    raw = os.environ.get("ODF_PIPELINE_OWNER", "").strip() or DEFAULT_PIPELINE_OWNER
    if not _OWNER.match(raw):
        raise ValueError(f"ODF_PIPELINE_OWNER={raw!r}: expected team:<name> (letters, digits, _ . -) or an email")
    return raw


# --- The odf CLI ---------------------------------------------------------------------------------


def dagster_home() -> str:
    """``DAGSTER_HOME``: the instance the ``odf`` CLI uses; unset, it shares ``<project>/.odf/dagster_home``."""
    return os.environ.get("DAGSTER_HOME", "").strip()


def odf_home() -> str:
    """``ODF_HOME``: the project folder whose ``.odf/`` holds the local instance and storage; unset, the
    ``odf`` CLI walks up from the current folder to the nearest ``pyproject.toml``."""
    return os.environ.get("ODF_HOME", "").strip()


def storage_is_set() -> bool:
    return is_set("ODF_STORAGE")


def dagster_url(default: str) -> str:
    """``ODF_DAGSTER_URL``: the Dagster webserver the ``odf`` CLI's remote commands talk to."""
    return os.environ.get("ODF_DAGSTER_URL", "").strip() or default


@dataclass(frozen=True)
class OpenLineageEnvironment:
    """openlineage-python's own variables, as ODF reads them to decide whether and how to send."""

    disabled: bool  # OPENLINEAGE_DISABLED=true
    url: str  # OPENLINEAGE_URL
    config_file: str  # OPENLINEAGE_CONFIG: the client's YAML configuration
    transport_type: str  # OPENLINEAGE__TRANSPORT__TYPE: the client's variable-based configuration
    endpoint: str  # OPENLINEAGE_ENDPOINT (default api/v1/lineage)
    api_key: str  # OPENLINEAGE_API_KEY (a secret)

    @property
    def client_configured(self) -> bool:
        """The client configures itself (a config file or OPENLINEAGE__TRANSPORT__* variables)."""
        return bool(self.config_file or self.transport_type)


def openlineage_environment() -> OpenLineageEnvironment:
    get = os.environ.get
    return OpenLineageEnvironment(
        disabled=get("OPENLINEAGE_DISABLED", "").strip().lower() == "true",
        url=get("OPENLINEAGE_URL", ""),
        config_file=get("OPENLINEAGE_CONFIG", ""),
        transport_type=get("OPENLINEAGE__TRANSPORT__TYPE", ""),
        endpoint=get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
        api_key=get("OPENLINEAGE_API_KEY", ""),
    )
