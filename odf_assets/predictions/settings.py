"""The environment variables of the predictions domain (read here only; code takes plain values)."""

from __future__ import annotations

import os

DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS = 30


def external_model_uri() -> str:
    """``ODF_IRIS_MODEL_URI``: an existing ONNX model (local path or s3://bucket/key) used instead of training."""
    return os.environ.get("ODF_IRIS_MODEL_URI", "").strip()


def landing_sensor_interval_seconds() -> int:
    """``ODF_LANDING_SENSOR_INTERVAL_SECONDS``: the least time between two landing sensor ticks (default 30)."""
    raw = os.environ.get("ODF_LANDING_SENSOR_INTERVAL_SECONDS", "").strip()
    if not raw:
        return DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        seconds = 0
    if seconds < 1:
        raise ValueError(f"ODF_LANDING_SENSOR_INTERVAL_SECONDS={raw!r}: expected a whole number of seconds >= 1")
    return seconds
