"""Lineage fixtures: a loopback collector, plain Dagster instances, and ticks of ODF's lineage sensor."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from odf_sensors.lineage import LINEAGE_SENSOR, LineageCursor, build_lineage_sensor
from tests.lineage.collector import LineageCollector


def local_instance(home: Path) -> dg.DagsterInstance:
    """A DAGSTER_HOME with Dagster's default storage: the run-sharded SQLite event log of `dagster dev`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}}))
    return dg.DagsterInstance.from_config(str(home))


class SensorTicks:
    """Evaluates ``odf_lineage_sensor`` (as loaded from ODF's definitions) tick after tick, keeping
    the cursor between ticks as the daemon does."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        from odf.definitions import build_definitions

        self.instance = instance
        self.sensor = next(s for s in build_definitions().sensors if s.name == LINEAGE_SENSOR)
        self.cursor: str | None = None
        self.skip_reasons: list[str] = []

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor)
        result = self.sensor(context)
        assert not result.run_requests, "the lineage sensor never launches runs"
        if result.cursor is not None:
            self.cursor = result.cursor
        self.skip_reasons.append(str(result.skip_reason.skip_message if result.skip_reason else ""))
        return result

    def position(self) -> LineageCursor:
        return LineageCursor.parse(self.cursor)

    def drain(self, timeout: float = 90.0) -> int:
        """Tick until the backlog is empty (records are sent once settled); returns the number of ticks."""
        deadline, count = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            count += 1
            self.tick()
            if self.skip_reasons[-1].endswith("backlog 0 record(s)"):
                return count
            time.sleep(0.1)
        raise AssertionError(f"lineage backlog not drained in {timeout}s: {self.skip_reasons[-3:]}")


@pytest.fixture(autouse=True)
def openlineage_env(monkeypatch):
    """No developer OPENLINEAGE_* settings leak in; the variables openlineage-python itself writes
    into os.environ (it aliases OPENLINEAGE_URL to OPENLINEAGE__TRANSPORT__...) don't leak out."""
    for name in [name for name in os.environ if name.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ODF_LINEAGE_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("ODF_LINEAGE_SETTLE_SECONDS", "0.5")
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
    created: list[dg.DagsterInstance] = []

    def make(name: str = "dagster_home") -> dg.DagsterInstance:
        instance = local_instance(tmp_path / name)
        created.append(instance)
        return instance

    yield make
    for instance in created:
        instance.dispose()


@pytest.fixture
def ticks():
    return SensorTicks


__all__ = ["SensorTicks", "build_lineage_sensor", "local_instance"]
