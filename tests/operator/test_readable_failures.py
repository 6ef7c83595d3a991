"""Failures an operator must act on read as a reason plus metadata (``dg.Failure``), not as a chain
of ODF's exceptions: an unreachable source, after its retries."""

from __future__ import annotations

import dagster as dg

from odf.definitions import build_definitions
from odf_resources.source_fetcher import SourceFetcher
from tests.operator.cli_support import permits_source
from tests.support.pipeline import run_assets, write_registry
from tests.support.servers import respond

DAY = "2024-02-01"


def test_an_unreachable_source_fails_as_a_dg_failure_with_metadata(source_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [permits_source(source_server.url)])))
    monkeypatch.setenv("ODF_ALLOWED_HOSTS", "127.0.0.1")
    source_server.script(f"/{DAY}.csv", respond(503))
    defs = build_definitions()
    fast = SourceFetcher(max_attempts=2, backoff_seconds=0.01, timeout_seconds=2, allowed_hosts=["127.0.0.1"])
    defs = dg.Definitions(assets=list(defs.assets), resources={**defs.resources, "source_fetcher": fast})
    result = run_assets(defs, ["raw/city_permits"], partition_key=DAY)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure).step_failure_data
    assert failure.user_failure_data is not None, "a dg.Failure, shown with its description and metadata"
    assert failure.user_failure_data.description.startswith("city_permits: source unavailable: ")
    assert "HTTP 503" in failure.user_failure_data.description
    chain, error = [], failure.error
    while error is not None:  # "Exceeded max_retries", then the last attempt's Failure, and nothing of ours below it
        chain.append(error.cls_name)
        error = error.cause
    assert "SourceUnavailableError" not in chain and chain[-1] == "Failure", chain
    assert failure.user_failure_data.metadata["source"].value == "city_permits"
    retries = [event for event in result.all_events if event.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries, "the asset's RetryPolicy still retries an unavailable source"


def test_progress_and_status_show_the_last_attempt_not_the_retry_bookkeeping():
    from odf_cli.progress import step_error_text

    assert (
        step_error_text("Exceeded max_retries of 2\n", "Failure: raw/x: source unavailable")
        == "Failure: raw/x: source unavailable"
    )
    assert step_error_text("ValueError: bad", None) == "ValueError: bad"
