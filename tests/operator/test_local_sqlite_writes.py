"""`odf materialize` writes the local SQLite instance without a disk sync per event (odf_cli/sqlite_writes.py),
and loses nothing: every event is in the databases after the block, readable by any other connection."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import dagster as dg
import sqlalchemy

from odf_cli.sqlite_writes import local_sqlite_writes

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
daily = dg.DailyPartitionsDefinition(start_date=DAYS[0])


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
