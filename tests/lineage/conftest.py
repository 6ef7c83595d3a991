"""Lineage fixtures: a loopback collector and Dagster instances whose event log is wrapped."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.lineage.collector import LineageCollector

STORAGE_CLASS = {"module": "odf_resources.lineage.storage", "class": "OdfLineageEventLogStorage"}


def wrapped_instance(home: Path, **options) -> dg.DagsterInstance:
    """A DAGSTER_HOME whose dagster.yaml wraps the default (run-sharded SQLite) event log, as in dev."""
    home.mkdir(parents=True, exist_ok=True)
    wrapped = {"module": "dagster._core.storage.event_log", "class": "SqliteEventLogStorage",
               "config": {"base_dir": str(home / "history" / "runs")}}  # fmt: skip
    config = {
        "telemetry": {"enabled": False},
        "event_log_storage": {**STORAGE_CLASS, "config": {"wrapped": wrapped, **options}},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


@pytest.fixture(autouse=True)
def openlineage_env(monkeypatch):
    """No developer OPENLINEAGE_* settings leak in; the variables openlineage-python itself writes
    into os.environ (it aliases OPENLINEAGE_URL to OPENLINEAGE__TRANSPORT__...) don't leak out."""
    for name in [name for name in os.environ if name.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    yield
    for name in [name for name in os.environ if name.startswith("OPENLINEAGE")]:
        del os.environ[name]


@pytest.fixture
def collector():
    server = LineageCollector()
    yield server
    server.stop()


@pytest.fixture
def make_instance(tmp_path):
    """Builds wrapped instances under tmp_path; disposes them (flushing their emitters) at the end."""
    created: list[dg.DagsterInstance] = []

    def make(name: str = "dagster_home", **options) -> dg.DagsterInstance:
        instance = wrapped_instance(tmp_path / name, **options)
        created.append(instance)
        return instance

    yield make
    for instance in created:
        instance.dispose()
