"""Following a run on a running Dagster through its GraphQL API: its new events as progress lines,
where it waits in the queue, and why it failed (for ``odf trigger | backfill | status``)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

from odf_cli import progress as kinds
from odf_cli.graphql import Webserver
from odf_cli.main import CommandError
from odf_cli.progress import Progress, RunEvent, first_line, step_error_text
from odf_resources.run_tags import PARENT_RUN_ID_TAG, queue_state_text

RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
POLL_SECONDS = 1.0


def wait_for(fetch, done: set[str], timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = fetch()
        if state is not None and state["status"] in done:
            return state
        if time.monotonic() > deadline:
            raise CommandError(f"{what} still {state['status'] if state else 'unknown'} after {timeout:.0f}s")
        time.sleep(POLL_SECONDS)


_EVENT_KINDS = {
    "STEP_START": kinds.START,
    "STEP_SUCCESS": kinds.SUCCESS,
    "STEP_FAILURE": kinds.FAILURE,
    "STEP_SKIPPED": kinds.SKIPPED,
    "ASSET_MATERIALIZATION": kinds.MATERIALIZATION,
    "ASSET_CHECK_EVALUATION": kinds.CHECK,
}


def run_event(raw: dict) -> RunEvent | None:
    """The progress view of one GraphQL run event (None for events progress does not show)."""
    kind = _EVENT_KINDS.get(raw.get("eventType") or "")
    if kind is None:
        return None
    common = {
        "kind": kind,
        "step": raw.get("stepKey"),
        "timestamp": float(raw["timestamp"]) / 1000 if raw.get("timestamp") else None,
    }
    if kind == kinds.MATERIALIZATION:
        rows = next(
            (e.get("intValue") for e in raw.get("metadataEntries", []) if e["label"] == "dagster/row_count"), None
        )
        return RunEvent(**common, asset="/".join(raw["assetKey"]["path"]), partition=raw.get("partition"), rows=rows)
    if kind == kinds.CHECK:
        evaluation = raw["evaluation"]
        return RunEvent(
            **common,
            asset="/".join(evaluation["assetKey"]["path"]),
            check=evaluation["checkName"],
            passed=evaluation["success"],
            severity=evaluation["severity"],
            partition=evaluation.get("partition"),
            message=evaluation.get("description"),
        )
    if kind == kinds.FAILURE:
        error = raw.get("error") or {}
        return RunEvent(
            **common,
            message=step_error_text(error.get("message"), (error.get("cause") or {}).get("message"))
            or raw.get("message"),
        )
    return RunEvent(**common)


def new_run_events(server: Webserver, run_id: str, cursor: list[str | None]) -> Iterator[dict]:
    """The run's events after ``cursor[0]``, every page; ``cursor[0]`` advances as they are read."""
    more = True
    while more:
        events, cursor[0], more = server.run_events(run_id, cursor[0])
        yield from events


def queue_state(server: Webserver, run: dict) -> str:
    """Why a QUEUED run waits: the first of its pools that is full, with the runs holding its slots
    (the same text the queued-run sensor sets as the run's ``odf/queue_state`` tag)."""
    holders = {other["runId"]: other.get("allPools") or [] for other in server.runs_in_progress()}
    return queue_state_text(run.get("allPools") or [], holders, server.pool_limit)


def follow_run(server: Webserver, run_id: str, progress: Progress, timeout: float) -> dict:
    """Feeds the run's events to ``progress`` until it finishes; returns the finished run. While the
    run is queued, says why (its full pool and the runs holding it) whenever that changes."""
    deadline = time.monotonic() + timeout
    cursor: list[str | None] = [None]
    last_queue_state = None
    while True:
        run = server.run(run_id)
        if run is not None and run["status"] == "QUEUED":
            state = queue_state(server, run)
            if state != last_queue_state:
                progress.heading(state)
                last_queue_state = state
        for raw in new_run_events(server, run_id, cursor):
            event = run_event(raw)
            if event is not None:
                progress.feed(event)
        if run is not None and run["status"] in RUN_DONE:
            return run
        if time.monotonic() > deadline:
            raise CommandError(f"run {run_id} still {run['status'] if run else 'unknown'} after {timeout:.0f}s")
        time.sleep(POLL_SECONDS)


def failure_details(server: Webserver, run_id: str) -> tuple[list[tuple[str, str]], list[dict]]:
    """(failed steps with their error's first line, runs that retried this one)."""
    progress = Progress(io.StringIO(), tty=False)
    for raw in new_run_events(server, run_id, [None]):
        event = run_event(raw)
        if event is not None:
            progress.feed(event)
        elif raw.get("eventType") == "RUN_FAILURE" and not progress.failed_steps:  # e.g. a crashed run worker
            progress.failed_steps.append(("(run)", first_line(raw.get("message")) or "run failed"))
    return progress.failed_steps, server.runs_tagged(PARENT_RUN_ID_TAG, run_id)
