"""A lineage backend that is down, slow or failing never fails or noticeably slows a materialization,
and the API key reaches the backend's Authorization header but no event body and no log line."""

import logging
import time
import uuid

import dagster as dg
import pytest

from odf_assets.definitions import build_definitions
from tests.lineage.collector import LineageCollector
from tests.lineage.test_lineage_events import AGG, RAW
from tests.support.pipeline import run_assets

TIMEOUT, FLUSH_TIMEOUT = 2.0, 1.0


def timed_run(defs: dg.Definitions, instance: dg.DagsterInstance, day: str) -> float:
    started = time.monotonic()
    result = run_assets(defs, [RAW, AGG], instance=instance, partition_key=day)
    assert result.success, f"materialization of {day} failed"
    return time.monotonic() - started


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", ["connection_refused", "slow_500"])
def test_failing_backend_never_fails_or_slows_materialization(fault, make_instance, monkeypatch, caplog):
    defs = build_definitions()
    instance = make_instance(timeout=TIMEOUT, flush_timeout=FLUSH_TIMEOUT)
    timed_run(defs, instance, "2024-01-01")  # warm-up: first-run imports and caches
    baseline = timed_run(defs, instance, "2024-01-02")  # lineage off: no OPENLINEAGE_URL

    # Answers 500 after 1.8 s (under the 2 s timeout): a synchronous emitter would wait 1.8 s per
    # event (2 STARTs + 2 COMPLETEs), and the client's default 5 retries on 5xx would multiply that.
    backend = LineageCollector(status=500, delay=1.8)
    if fault == "connection_refused":
        backend.stop()
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    elapsed = timed_run(defs, instance, "2024-01-03")
    assert elapsed < baseline * 1.5 + 1.5, f"lineage slowed the run: {elapsed:.2f}s vs baseline {baseline:.2f}s"

    emitter = instance.event_log_storage.emitter
    started = time.monotonic()
    emitter.close()  # what a run worker does at exit: bounded by flush_timeout, whatever the backend does
    assert time.monotonic() - started < FLUSH_TIMEOUT + 1.0

    assert emitter.flush(20), "the worker never finished with the queued events"
    expected_error = "HTTPError" if fault == "slow_500" else "ConnectionError"
    assert f"OpenLineage emit failed ({expected_error}" in caplog.text
    if fault == "slow_500":
        # Each event was tried exactly once: retries are off, so a failing backend costs one request.
        assert sorted(e["eventType"] for e in backend.events) == ["COMPLETE", "COMPLETE", "START", "START"]
        backend.stop()


@pytest.mark.timeout(60)
def test_api_key_sent_as_header_but_never_emitted_or_logged(make_instance, monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    secret = f"olk-planted-{uuid.uuid4().hex}"
    backend = LineageCollector(status=500)  # failing, so the error-logging path runs too
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    monkeypatch.setenv("OPENLINEAGE_API_KEY", secret)
    instance = make_instance()
    timed_run(build_definitions(), instance, "2024-01-04")
    assert instance.event_log_storage.emitter.flush(20)
    backend.stop()

    assert len(backend.events) == 4
    assert {h.get("Authorization") for h in backend.headers} == {f"Bearer {secret}"}
    assert not [body for body in backend.raw_bodies if secret.encode() in body]
    assert "OpenLineage emit failed (HTTPError" in caplog.text
    out, err = capfd.readouterr()
    for text in (caplog.text, out, err):
        assert secret not in text
