"""ODF's own settings, ``ODF_*``, as one pydantic-settings model: each field typed, bounded and
documented; ``settings.current()`` validates the environment into it."""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
from pydantic import BeforeValidator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from odf_resources.settings import defaults as default

# Longest path, URL or list ODF takes from one variable; longer values are a mistake, not a setting.
MAX_TEXT_CHARS = 4096
DAY_SECONDS = 86_400.0

# Case-insensitive choices, as operators write them (RUNNING, K8s).
Lowercase = BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value)


def _seconds(default: float, description: str, *, ge: float | None = None) -> float:
    """A duration in seconds: finite, at most a day, above zero unless ``ge`` allows zero."""
    bounds = {"ge": ge} if ge is not None else {"gt": 0}
    return setting(default, le=DAY_SECONDS, allow_inf_nan=False, description=description, **bounds, unit="seconds")


def _interval(default: int, description: str) -> int:
    """A sensor's least time between ticks: whole seconds from 1 to a day."""
    return setting(default, gt=0, le=int(DAY_SECONDS), description=description, unit="seconds")


def _fraction(default: float, description: str) -> float:
    return setting(default, ge=0, le=1, allow_inf_nan=False, description=description)


def _text(description: str, **constraints) -> str:
    return setting("", max_length=MAX_TEXT_CHARS, description=description, **constraints)


def setting(
    default, *, description: str, unit: str | None = None, expected: str | None = None, secret: bool | str = False, **kw
):
    """pydantic's ``Field`` with ODF's extras: the ``unit`` and ``expected`` wording of one-line errors,
    and ``secret`` (the value holds a credential, redacted in errors; ``"path"``: its URL path too)."""
    extra = {key: value for key, value in (("unit", unit), ("expected", expected), ("secret", secret)) if value}
    return pydantic.Field(default, description=description, json_schema_extra=extra or None, **kw)


class OdfSettings(BaseSettings):
    """Every ``ODF_*`` variable. Unset or empty variables keep their defaults."""

    model_config = SettingsConfigDict(
        env_prefix="ODF_", env_ignore_empty=True, extra="ignore", frozen=True, str_strip_whitespace=True
    )

    # --- Storage and sources -------------------------------------------------------------------
    storage: str = setting(
        default.DEFAULT_LOCAL_STORAGE,
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        secret=True,
        description="Where Parquet is stored: a local directory or s3://bucket/prefix (shared by every pod).",
    )
    sources: str = _text("Extra source registry files, separated by the OS path separator.")
    file_roots: str = _text("Directories file: sources may read besides the registries' own folders (path separator).")
    allowed_hosts: str = _text(
        "Comma-separated host allowlist for HTTP(S) sources. Empty allows any host with public addresses; "
        "loopback, private and other non-public addresses need their host named here.",
        pattern=r"^[^/@\s,]*(\s*,\s*[^/@\s,]*)*$",
        expected="host names separated by commas (no scheme, path or user)",
    )
    fetch_deadline_seconds: float = _seconds(
        default.DEFAULT_FETCH_DEADLINE_SECONDS, "Wall clock for one source download, retries included."
    )
    retry_delay_seconds: float = _seconds(
        default.DEFAULT_RETRY_DELAY_SECONDS, "First delay of run-level retries of unavailable sources.", ge=0
    )
    landing_max_file_bytes: int = setting(
        default.DEFAULT_LANDING_MAX_FILE_BYTES,
        gt=0,
        le=1 << 40,
        unit="bytes",
        description="Largest landing-zone file read; larger ones are rejected whole.",
    )
    csv_read_chunk_bytes: int = setting(
        default.DEFAULT_CSV_READ_CHUNK_BYTES,
        ge=0,
        le=1 << 32,
        unit="bytes",
        description="Bytes per chunk of streaming CSV reads; 0 keeps Polars' own.",
    )

    # --- Orchestration -------------------------------------------------------------------------
    automation_interval_seconds: int = _interval(
        default.DEFAULT_AUTOMATION_INTERVAL_SECONDS, "Least time between two evaluations of the automation sensor."
    )
    schedules_default_status: Annotated[Literal["running", "stopped"], Lowercase] = setting(
        "stopped",
        description="running starts the schedules of sources that have not ended when the code location loads.",
    )
    sensor_min_interval_seconds: int = _interval(
        default.DEFAULT_SENSOR_INTERVAL_SECONDS, "Least time between run-failure sensor ticks."
    )
    queue_state_interval_seconds: int = _interval(
        default.DEFAULT_QUEUE_STATE_INTERVAL_SECONDS,
        "Least time between ticks of the queued-run sensor (the odf/queue_state tag).",
    )
    alert_webhook_url: str | None = setting(
        None,
        max_length=MAX_TEXT_CHARS,
        pattern=r"^https?://\S+$",
        secret="path",
        expected="an http(s):// URL",
        description="Where the run-failure sensor POSTs alerts (optional; its path is a secret).",
    )
    alert_webhook_timeout_seconds: float = _seconds(5.0, "Per-POST timeout of alerts.")
    landing_sensor_interval_seconds: int = _interval(
        default.DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS, "Least time between two landing sensor ticks."
    )
    landing_retry_seconds: float = _seconds(
        default.DEFAULT_LANDING_RETRY_SECONDS,
        "Wait before the first re-request of a failed date; 0 retries at once.",
        ge=0,
    )
    step_executor: Annotated[Literal["k8s", "in_process"] | None, Lowercase] = setting(
        None,
        description=(
            "k8s runs each step in its own pod; in_process runs a run's steps one after another in the run's "
            "own process (no process start per step); unset keeps Dagster's default executor."
        ),
    )
    step_service_account: str | None = setting(
        None,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        expected="a Kubernetes service account name (lowercase letters, digits, '-' and '.')",
        description="The Kubernetes service account of step pods (no Kubernetes rights); unset, the run pod's.",
    )

    # --- Predictions ---------------------------------------------------------------------------
    iris_model_uri: str = _text("An existing ONNX model (local path or s3://bucket/key) used instead of training.")
    iris_model_sha256: Annotated[str | None, Lowercase] = setting(
        None,
        pattern=r"^[0-9a-f]{64}$",
        expected="64 hexadecimal characters",
        description="The SHA-256 the published iris model must have, checked before publishing and every use.",
    )
    iris_model_min_accuracy: float = _fraction(
        default.DEFAULT_MODEL_MIN_ACCURACY, "Least holdout accuracy of a model to be published."
    )
    iris_model_allow_external_data: bool = setting(
        False,
        description="true accepts a local ONNX model whose weights sit in external data files in its own folder.",
    )
    drift_psi_warn: float = setting(
        default.DRIFT_DEFAULTS["psi_warn"], ge=0, le=1e6, allow_inf_nan=False, description="Drift WARN: PSI of classes."
    )
    drift_psi_error: float = setting(
        default.DRIFT_DEFAULTS["psi_error"],
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="Drift ERROR: PSI of classes.",
    )
    drift_range_warn: float = _fraction(
        default.DRIFT_DEFAULTS["range_warn"], "Drift WARN: share of a feature's values outside its training range."
    )
    drift_range_error: float = _fraction(
        default.DRIFT_DEFAULTS["range_error"], "Drift ERROR: share of a feature's values outside its training range."
    )
    drift_range_margin: float = setting(
        default.DRIFT_DEFAULTS["range_margin"],
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="Widening of the training range, a fraction of its width.",
    )

    # --- Lineage -------------------------------------------------------------------------------
    lineage_sensor_interval_seconds: int = _interval(
        default.DEFAULT_SENSOR_INTERVAL_SECONDS, "Least time between lineage sensor ticks."
    )
    lineage_batch_size: int = setting(200, gt=0, le=100_000, description="Events read from the event log per batch.")
    lineage_tick_seconds: float = _seconds(20.0, "Time budget of one lineage sensor tick.")
    lineage_timeout_seconds: float = _seconds(30.0, "Timeout of one OpenLineage request.")
    lineage_backoff_seconds: float = _seconds(10.0, "First wait after a failed OpenLineage delivery.")
    lineage_settle_seconds: float = _seconds(5.0, "How long a run's events may still arrive before it is sent.")
    pipeline_owner: str = setting(
        default.DEFAULT_PIPELINE_OWNER,
        max_length=254,
        pattern=r"^(team:[A-Za-z0-9_.-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$",
        expected="team:<name> (letters, digits, _ . -) or an email",
        description="The Dagster owner of every asset: the team that runs the pipeline.",
    )

    # --- The odf CLI ---------------------------------------------------------------------------
    home: str = _text(
        "The project folder whose .odf/ holds the local instance and storage; unset, the nearest "
        "pyproject.toml above the current folder."
    )
    dagster_url: str | None = setting(
        None,
        max_length=MAX_TEXT_CHARS,
        pattern=r"^https?://\S+$",
        expected="an http(s):// URL",
        description="The Dagster webserver the odf CLI's remote commands talk to.",
    )

    @model_validator(mode="after")
    def _error_limits_not_below_warnings(self) -> OdfSettings:
        for kind in ("psi", "range"):
            warn, error = getattr(self, f"drift_{kind}_warn"), getattr(self, f"drift_{kind}_error")
            if error < warn:
                raise ValueError(
                    f"ODF_DRIFT_{kind.upper()}_ERROR must not be below ODF_DRIFT_{kind.upper()}_WARN ({error} < {warn})"
                )
        return self
