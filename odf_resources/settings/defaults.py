"""Defaults of ODF's settings, as plain values: importable without pydantic (the ``odf`` CLI's
``--help`` and argument errors stay fast)."""

DEFAULT_LOCAL_STORAGE = "./.odf/storage"
DEFAULT_PIPELINE_OWNER = "team:data-platform"
DEFAULT_FETCH_DEADLINE_SECONDS = 300.0
DEFAULT_RETRY_DELAY_SECONDS = 10.0
DEFAULT_LANDING_MAX_FILE_BYTES = 256 << 20
DEFAULT_CSV_READ_CHUNK_BYTES = 1 << 20
DEFAULT_AUTOMATION_INTERVAL_SECONDS = 30
DEFAULT_SENSOR_INTERVAL_SECONDS = 30
# A tick with no queued run is one query of the run storage: 10 s keeps a queued run's tag close to
# what `odf status` says without a noticeable load on the daemon or the database.
DEFAULT_QUEUE_STATE_INTERVAL_SECONDS = 10
DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS = 30
DEFAULT_LANDING_RETRY_SECONDS = 60.0
DEFAULT_MODEL_MIN_ACCURACY = 0.85
# Prediction drift: population stability index of the predicted classes, and the share of a
# feature's values outside its training range (plus a margin of that range's width).
DRIFT_DEFAULTS = {"psi_warn": 0.1, "psi_error": 0.25, "range_warn": 0.01, "range_error": 0.05, "range_margin": 0.1}
