"""A range longer than one window in one run, in process: every day is checked and stored, and a
day that fails its ERROR check keeps its stored object while the days of every window that passed
are published (the failure path of ``publishing.emit_checked`` across windows)."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from odf_assets import checks
from odf_assets.partitions import DAILY_BACKFILL_POLICY, RANGE_WINDOW_PARTITIONS, daily_partitions
from odf_assets.publishing import emit_unique_by
from odf_resources.constants import IO_MANAGER_KEY, STORAGE_RESOURCE_KEY
from odf_resources.parquet_io_manager import OdfParquetIOManager
from odf_resources.run_tags import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG
from odf_resources.storage_resource import OdfStorage

pytestmark = pytest.mark.slow
KEY = dg.AssetKey(["windowed", "counts"])
DAYS = [(date(2024, 1, 1) + timedelta(days=offset)).isoformat() for offset in range(RANGE_WINDOW_PARTITIONS + 8)]
PARTITIONS = daily_partitions(date(2024, 1, 1), date(2024, 3, 31))
BAD_DAY = DAYS[RANGE_WINDOW_PARTITIONS + 3]  # in the second window


def build(repeat_on: str | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=KEY,
        partitions_def=PARTITIONS,
        backfill_policy=DAILY_BACKFILL_POLICY,
        io_manager_key=IO_MANAGER_KEY,
        metadata={"partition_expr": "date"},
        check_specs=checks.check_specs(KEY, checks.Contract(key=("date", "k")), PARTITIONS),
    )
    def counts(context: dg.AssetExecutionContext, odf_storage: OdfStorage):
        days = [date.fromisoformat(day) for day in context.partition_keys]
        repeated = [date.fromisoformat(repeat_on)] if repeat_on else []
        frame = pl.LazyFrame({"date": days + repeated, "k": [1] * (len(days) + len(repeated))})
        yield from emit_unique_by(context, frame, ["date", "k"], odf_storage.get())

    return counts


def run(asset: dg.AssetsDefinition, base: Path, instance: dg.DagsterInstance, days: list[str]):
    storage = OdfStorage(base=str(base))
    return dg.materialize(
        [asset],
        instance=instance,
        resources={STORAGE_RESOURCE_KEY: storage, IO_MANAGER_KEY: OdfParquetIOManager(storage=storage)},
        tags={PARTITION_RANGE_START_TAG: days[0], PARTITION_RANGE_END_TAG: days[-1]},
        raise_on_error=False,
    )


def stored(base: Path) -> dict[str, bytes]:
    return {path.parent.name: path.read_bytes() for path in (base / "windowed" / "counts").glob("date=*/data.parquet")}


def test_a_range_of_two_windows_publishes_the_days_that_pass_and_a_failed_day_keeps_its_object(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    # The day that will fail, stored first by a short range run (one window).
    assert run(build(None), tmp_path, instance, [BAD_DAY, DAYS[-1]]).success
    before = stored(tmp_path)[f"date={BAD_DAY}"]

    bad = run(build(BAD_DAY), tmp_path, instance, DAYS)
    assert not bad.success
    failure = bad.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure.metadata["failed_days"].value == [BAD_DAY]
    assert len(failure.metadata["published_days"].value) == len(DAYS) - 1
    after = stored(tmp_path)
    assert sorted(after) == [f"date={day}" for day in DAYS]  # the other days of both windows published
    assert after[f"date={BAD_DAY}"] == before  # the failed day keeps the object stored before, byte for byte
    evaluations = [
        entry.asset_check_evaluation
        for entry in instance.all_logs(bad.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert len(evaluations) == len(DAYS)  # every day of both windows judged, in the failed run too
    assert [e.partition for e in evaluations if not e.passed] == [BAD_DAY]
