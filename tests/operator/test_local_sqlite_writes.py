"""`odf materialize` writes the local SQLite instance without a disk sync per event (odf_cli/sqlite_writes.py),
and loses nothing: every event is in the databases after the block, readable by any other connection."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import sqlalchemy

from odf_cli.sqlite_writes import local_sqlite_writes

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
daily = dg.DailyPartitionsDefinition(start_date=DAYS[0])
MARKER = "written while the watcher is idle"


@dg.asset(partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run())
def measured() -> None:
    """Nothing to store: the events are what this test is about."""


@dg.asset_check(asset=measured)
def positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _synchronous(path: Path) -> int:
    engine = sqlalchemy.create_engine(f"sqlite:///{path}", poolclass=sqlalchemy.NullPool)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("PRAGMA synchronous").scalar_one()
    finally:
        engine.dispose()


def _materialized_days(index: Path) -> list[str]:
    return [
        row[0]
        for row in _query(
            index,
            "SELECT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' ORDER BY partition",
        )
    ]


def _query(database: Path, sql: str) -> list[tuple]:
    """On a connection of its own, closed after, as another process would read."""
    with contextlib.closing(sqlite3.connect(database)) as reader:
        return reader.execute(sql).fetchall()


def test_sqlite_commits_skip_the_disk_sync_only_inside_the_block(tmp_path):
    database = tmp_path / "any.db"
    outside = _synchronous(database)
    with local_sqlite_writes():
        inside = _synchronous(database)
    assert (outside, inside, _synchronous(database)) == (2, 1, 2)  # FULL, NORMAL, FULL again


def test_a_range_run_keeps_its_logs_until_the_end_and_loses_no_event(tmp_path):
    definitions = dg.Definitions(assets=[measured], asset_checks=[positive])
    job = definitions.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance, local_sqlite_writes():
        result = job.execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]},
        )
        assert result.success
        index = next(tmp_path.rglob("index.db"))
        # Held open: Dagster's closes no longer checkpoint and delete the log after every event ...
        assert index.with_name("index.db-wal").exists()
        # ... and what is in the log is already visible to every other connection.
        assert _materialized_days(index) == DAYS
        written = len(instance.all_logs(result.run_id))
        shard = index.with_name(f"{result.run_id}.db")
    # The block's end checkpoints each log into its database and removes it.
    assert not list(tmp_path.rglob("*.db-wal"))
    assert _materialized_days(index) == DAYS
    assert _query(shard, "SELECT count(*) FROM event_logs") == [(written,)]  # one evaluation per run


def test_another_instance_watching_the_run_sees_its_events_while_it_runs(tmp_path):
    """The webserver's live log view: Dagster's SQLite watcher re-reads a run's events when the run's
    database file changes, and with the log held open that file changes only at checkpoints."""
    step_start_seen, marker_seen = threading.Event(), threading.Event()
    seen_while_running = []

    @dg.op
    def logs_a_marker_and_waits_for_the_watcher(context) -> None:
        # The shard's first writes (before its log is held) change the file anyway: let them pass.
        seen_while_running.append(step_start_seen.wait(timeout=10))
        time.sleep(0.5)
        context.log.info(MARKER)
        seen_while_running.append(marker_seen.wait(timeout=10))

    @dg.job
    def watched():
        logs_a_marker_and_waits_for_the_watcher()

    def on_event(entry: dg.EventLogEntry, _cursor: str) -> None:
        if entry.dagster_event and entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            step_start_seen.set()
        if entry.user_message == MARKER:
            marker_seen.set()

    run_id = str(uuid.uuid4())
    with (
        dg.instance_for_test(temp_dir=str(tmp_path)) as instance,
        local_sqlite_writes(),
        dg.DagsterInstance.from_ref(instance.get_ref()) as watcher,  # as the webserver's own instance
    ):
        watcher.watch_event_logs(run_id, None, on_event)
        result = watched.execute_in_process(instance=instance, run_id=run_id)
        watcher.end_watch_event_logs(run_id, on_event)
    assert result.success
    assert seen_while_running == [True, True]  # the marker within ten seconds, long before the block's end
