"""The environment variables of the predictions domain (read here only; code takes plain values)."""

from __future__ import annotations

import os

from odf_resources.settings import positive_number

DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS = 30


def external_model_uri() -> str:
    """``ODF_IRIS_MODEL_URI``: an existing ONNX model (local path or s3://bucket/key) used instead of training."""
    return os.environ.get("ODF_IRIS_MODEL_URI", "").strip()


def landing_sensor_interval_seconds() -> int:
    """``ODF_LANDING_SENSOR_INTERVAL_SECONDS``: the least time between two landing sensor ticks (default 30)."""
    return int(positive_number("ODF_LANDING_SENSOR_INTERVAL_SECONDS", DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS, int))
