"""The landing sensor on real files (temp dir and loopback S3) through ``build_sensor_context``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from odf_resources import settings
from odf_resources.storage_resource import OdfStorage
from odf_sensors import definitions as orchestration
from odf_sensors.landing import LANDING_SENSOR, build_iris_landing_sensor
from tests.predictions.helpers import item, jsonl, land, land_raw

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tick(storage_uri):
    instance = dg.DagsterInstance.ephemeral()

    def evaluate(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"odf_storage": OdfStorage(base=storage_uri)}
        )
        return build_iris_landing_sensor(30)(context)

    return evaluate


def requested(result: dg.SensorResult) -> dict[str, str]:
    return {request.partition_key: request.run_key for request in result.run_requests or []}


def test_sensor_requests_changed_dates_only_and_again_on_late_files(storage, tick):
    empty = tick(None)
    assert not empty.run_requests and empty.skip_reason is not None

    land(storage, "2024-03-01", "a.jsonl", jsonl(item("1")))
    land(storage, "2024-03-01", "b.csv", b"id,sepal_length,sepal_width,petal_length,petal_width\n2,5,3,1,0.2\n")
    land(storage, "2024-03-02", "a.jsonl", jsonl(item("3")))
    first = tick(empty.cursor)
    assert sorted(requested(first)) == ["2024-03-01", "2024-03-02"]
    assert json.loads(first.cursor)["dates"].keys() == {"2024-03-01", "2024-03-02"}

    # A repeated tick from the same cursor asks for the same run keys: Dagster starts no duplicate.
    assert requested(tick(empty.cursor)) == requested(first)
    # Unchanged files: no requests, however often it ticks.
    second = tick(first.cursor)
    assert not second.run_requests and tick(second.cursor).run_requests in (None, [])

    land(storage, "2024-03-02", "late.jsonl", jsonl(item("4")))
    late = tick(second.cursor)
    assert list(requested(late)) == ["2024-03-02"]
    assert requested(late)["2024-03-02"] != requested(first)["2024-03-02"]
    assert not tick(late.cursor).run_requests

    land(storage, "2024-03-01", "a.jsonl", jsonl(item("1", 7.0, 3.2, 4.7, 1.4)))  # replaced in place
    assert list(requested(tick(late.cursor))) == ["2024-03-01"]


def test_sensor_skips_what_it_cannot_use_without_failing(storage, storage_uri, tick):
    land(storage, "2024-13-40", "a.jsonl", jsonl(item("1")))  # not a date
    land(storage, "2023-12-31", "a.jsonl", jsonl(item("1")))  # before the first partition
    future = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    land(storage, future, "a.jsonl", jsonl(item("1")))  # not a partition yet
    storage.publish_bytes(b"{}", "landing/iris/stray.jsonl")
    result = tick(None)
    assert not result.run_requests
    assert json.loads(result.cursor)["dates"] == {}

    # A valid date with unreadable files is still requested: the run reports them as rejects.
    land(storage, "2024-03-05", "notes.txt", b"hello")
    land_raw(storage_uri, "landing/iris/date=2024-03-05/my items (1).jsonl", jsonl(item("1")))
    assert list(requested(tick(result.cursor))) == ["2024-03-05"]


def test_unreadable_cursor_starts_over_with_the_same_run_keys(storage, tick):
    land(storage, "2024-03-01", "a.jsonl", jsonl(item("1")))
    fresh = tick(None)
    assert requested(tick("not json")) == requested(fresh)


@pytest.mark.parametrize("storage_uri", ["local"], indirect=True)
def test_sensor_interval_comes_from_the_environment(monkeypatch, storage_uri):
    def interval() -> int:
        return next(s for s in orchestration.defs([], []).sensors if s.name == LANDING_SENSOR).minimum_interval_seconds

    assert interval() == settings.DEFAULT_LANDING_SENSOR_INTERVAL_SECONDS
    monkeypatch.setenv("ODF_LANDING_SENSOR_INTERVAL_SECONDS", "120")
    assert interval() == 120
    monkeypatch.setenv("ODF_LANDING_SENSOR_INTERVAL_SECONDS", "soon")
    with pytest.raises(ValueError, match="ODF_LANDING_SENSOR_INTERVAL_SECONDS='soon'"):
        settings.landing_sensor_interval_seconds()
