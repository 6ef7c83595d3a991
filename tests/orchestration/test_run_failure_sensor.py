"""The run-failure sensor on a real failed run: it posts job, run id, partition and the scrubbed
error to a loopback webhook, records the outcome on the run, and never fails itself when the
webhook is down, slow or erroring."""

import json
import logging
import time

import dagster as dg
import pytest

from odf_resources.settings import sensor_min_interval_seconds
from odf_sensors import definitions as orchestration
from odf_sensors.run_failure import ALERT_TAG, RUN_FAILURE_SENSOR, build_run_failure_sensor, scrub
from tests.orchestration.webhook import SECRET, Receiver
from tests.support.servers import free_port

DAY = "2024-01-05"


@pytest.fixture
def receiver():
    servers: list[Receiver] = []

    def start(**kwargs) -> Receiver:
        servers.append(Receiver(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"))
def flaky_source():
    """Fails like a fetch whose error text carries a credentialed URL."""
    raise dg.Failure(f"fetch of https://odf:{SECRET}@data.example.org/day.csv?token={SECRET}&page=1 failed: HTTP 503")


@pytest.fixture
def failed_run():
    """A really failed run in a real (temporary, persistent) instance; yields (instance, run, failure event)."""
    with dg.instance_for_test() as instance:
        job = dg.define_asset_job("flaky_job", selection=[flaky_source])
        resolved = dg.Definitions(assets=[flaky_source], jobs=[job]).resolve_job_def("flaky_job")
        result = resolved.execute_in_process(instance=instance, partition_key=DAY, raise_on_error=False)
        assert not result.success
        yield instance, instance.get_run_by_id(result.run_id), result.get_run_failure_event()


def run_sensor(sensor: dg.SensorDefinition, failed_run) -> tuple[str, float]:
    instance, run, event = failed_run
    context = dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR, dagster_event=event, dagster_instance=instance, dagster_run=run
    ).for_run_failure()
    started = time.monotonic()
    sensor(context)
    elapsed = time.monotonic() - started
    return instance.get_run_by_id(run.run_id).tags[ALERT_TAG], elapsed


def test_failure_is_posted_with_job_run_partition_and_scrubbed_error(receiver, failed_run, caplog, capfd):
    hook = receiver()
    capfd.readouterr()
    with caplog.at_level(logging.INFO):
        outcome, _ = run_sensor(build_run_failure_sensor(hook.url, 5, 30), failed_run)
    assert outcome == "webhook sent"
    [post] = hook.posts
    payload = post["json"]
    run = failed_run[1]
    assert payload["job"] == "flaky_job" and payload["run_id"] == run.run_id and payload["partition"] == DAY
    assert payload["step"] == "flaky_source" and payload["will_retry"] is False
    assert "HTTP 503" in payload["error"] and "data.example.org/day.csv?token=…&page=…" in payload["error"]
    assert SECRET not in json.dumps(payload)
    assert payload["text"].startswith(f"ODF run failed: flaky_job [{DAY}] ({run.run_id}): ")
    logged = caplog.text + capfd.readouterr().err
    assert f"run failed: job=flaky_job run_id={run.run_id} partition={DAY} step=flaky_source" in logged
    assert SECRET not in logged


@pytest.mark.parametrize(
    ("make_url", "expected"),
    [
        (lambda receiver: f"http://127.0.0.1:{free_port()}/hooks/{SECRET}", "webhook failed: ConnectionError"),
        (lambda receiver: receiver(status=500).url, "webhook failed: HTTP 500"),
        (lambda receiver: receiver(delay=3).url, "webhook failed: ReadTimeout"),
    ],
    ids=["receiver-down", "receiver-error", "receiver-too-slow"],
)
def test_webhook_problems_never_fail_the_sensor(receiver, failed_run, caplog, capfd, make_url, expected):
    capfd.readouterr()
    with caplog.at_level(logging.INFO):
        outcome, elapsed = run_sensor(build_run_failure_sensor(make_url(receiver), 0.5, 30), failed_run)
    assert outcome == expected
    assert elapsed < 2.5  # bounded by the timeout, not by the receiver
    logged = caplog.text + capfd.readouterr().err
    assert "alert webhook http://127.0.0.1:" in logged and expected.removeprefix("webhook failed: ") in logged
    assert SECRET not in logged


def test_without_a_webhook_the_failure_is_only_logged(failed_run):
    outcome, _ = run_sensor(build_run_failure_sensor(None, 5, 30), failed_run)
    assert outcome == "logged"


def test_scrub_removes_url_credentials_and_query_values_and_bounds_length():
    text = scrub(f"GET https://u:{SECRET}@h.example/p?api_key={SECRET}&x=1 failed " + "x" * 2000)
    assert SECRET not in text and "https://h.example/p?api_key=…&x=…" in text
    assert len(text) <= 600


def test_intervals_and_webhook_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ODF_SENSOR_MIN_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("ODF_ALERT_WEBHOOK_URL", f"http://127.0.0.1:9/{SECRET}")
    defs = orchestration.defs([], [])
    [sensor] = [sensor for sensor in defs.sensors if sensor.name == RUN_FAILURE_SENSOR]
    assert sensor.name == RUN_FAILURE_SENSOR and sensor.minimum_interval_seconds == 1
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert SECRET not in (sensor.description or "")
    monkeypatch.setenv("ODF_SENSOR_MIN_INTERVAL_SECONDS", "0")
    with pytest.raises(ValueError, match="ODF_SENSOR_MIN_INTERVAL_SECONDS='0'"):
        sensor_min_interval_seconds()
