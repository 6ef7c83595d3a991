"""OdfParquetIOManager round trips on a temp dir and on the loopback S3-compatible server."""

import io
import os
from datetime import date

import boto3
import dagster as dg
import polars as pl
import pytest
from boto3.s3.transfer import TransferConfig

from odf_resources.parquet_io_manager import OdfParquetIOManager, describe_parquet, stage_partitions
from odf_resources.s3_storage import S3Storage
from odf_resources.storage import UnsafeKeyError, safe_key, storage_from_uri
from tests.support.pipeline import failure_messages

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-15")
WEEKLY = dg.WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1, end_date="2024-01-15")
FAIL_FLAG = {"on": False}


@dg.asset(partitions_def=DAILY, io_manager_key="pq", metadata={"partition_expr": "date"})
def daily_numbers(context: dg.AssetExecutionContext) -> pl.DataFrame:
    days = [date.fromisoformat(k) for k in context.partition_keys]
    frame = pl.DataFrame(
        {"date": [d for d in days for _ in range(3)], "value": [d.day * 10 + i for d in days for i in range(3)]}
    )
    if FAIL_FLAG["on"]:
        # Fails while the IO manager streams it to Parquet, after some rows were produced.
        return frame.lazy().with_columns(
            pl.col("value").map_elements(lambda v: v // (v % 10 - 2), return_dtype=pl.Int64)
        )
    return frame


@dg.asset(partitions_def=WEEKLY, io_manager_key="pq", metadata={"partition_expr": "week_start"})
def weekly_total(daily_numbers: pl.LazyFrame) -> pl.DataFrame:
    assert isinstance(daily_numbers, pl.LazyFrame)
    return daily_numbers.select(
        pl.col("date").min().alias("week_start"), pl.col("value").sum(), pl.len().alias("rows")
    ).collect()


@dg.asset(io_manager_key="pq")
def unpartitioned() -> pl.DataFrame:
    return pl.DataFrame({"a": [1, 2]})


@pytest.fixture
def base(storage_uri):
    return storage_uri


def run(assets, base, **kwargs):
    return dg.materialize(assets, resources={"pq": OdfParquetIOManager.at(base)}, raise_on_error=False, **kwargs)


def read(base, key):
    return pl.read_parquet(io.BytesIO(storage_from_uri(base).read_bytes(key)))


def test_round_trip_single_range_weekly_and_unpartitioned(base):
    FAIL_FLAG["on"] = False
    assert run([daily_numbers], base, partition_key="2024-01-01").success
    ranged = run(
        [daily_numbers],
        base,
        tags={"dagster/asset_partition_range_start": "2024-01-02", "dagster/asset_partition_range_end": "2024-01-07"},
    )
    assert ranged.success
    # A range run writes exactly the per-partition objects single runs would, each with its own metadata.
    assert read(base, "daily_numbers/date=2024-01-05/data.parquet")["value"].to_list() == [50, 51, 52]
    events = {e.partition: e.materialization.metadata for e in ranged.get_asset_materialization_events()}
    assert sorted(events) == [f"2024-01-0{d}" for d in range(2, 8)]
    assert events["2024-01-05"]["dagster/row_count"].value == 3
    assert events["2024-01-05"]["uri"].value.endswith("daily_numbers/date=2024-01-05/data.parquet")
    assert [c.name for c in events["2024-01-05"]["dagster/column_schema"].schema.columns] == ["date", "value"]
    assert "| date | value |" in events["2024-01-05"]["preview"].value
    weekly = run([daily_numbers, weekly_total], base, selection=[weekly_total], partition_key="2024-01-01")
    assert weekly.success
    total = read(base, "weekly_total/week_start=2024-01-01/data.parquet")
    assert total["rows"].item() == 21 and total["value"].item() == sum(
        d * 10 + i for d in range(1, 8) for i in range(3)
    )
    assert run([unpartitioned], base).success
    assert read(base, "unpartitioned/data.parquet")["a"].to_list() == [1, 2]


def test_missing_upstream_partition_is_a_clear_error(base):
    FAIL_FLAG["on"] = False
    assert run([daily_numbers], base, partition_key="2024-01-08").success
    result = run([daily_numbers, weekly_total], base, selection=[weekly_total], partition_key="2024-01-08")
    assert not result.success
    messages = failure_messages(result)
    assert "daily_numbers partition 2024-01-09 is not stored at" in messages and "materialize it first" in messages


@pytest.mark.filterwarnings("ignore::polars.exceptions.PolarsInefficientMapWarning")
def test_failure_mid_write_keeps_previous_version_and_leaves_no_partial_object(base):
    FAIL_FLAG["on"] = False
    assert run([daily_numbers], base, partition_key="2024-01-03").success
    before = read(base, "daily_numbers/date=2024-01-03/data.parquet")
    FAIL_FLAG["on"] = True
    try:
        failed = run([daily_numbers], base, partition_key="2024-01-03")
    finally:
        FAIL_FLAG["on"] = False
    assert not failed.success
    assert read(base, "daily_numbers/date=2024-01-03/data.parquet").equals(before)
    assert [o.key for o in storage_from_uri(base).list("daily_numbers")] == [
        "daily_numbers/date=2024-01-03/data.parquet"
    ]
    if not base.startswith("s3://"):
        leftovers = [p for p in (os.walk(base)) if any(n.endswith(".parquet") and "tmp" in n for n in p[2])]
        assert leftovers == []
    # and a later run of the same partition succeeds
    assert run([daily_numbers], base, partition_key="2024-01-03").success


def test_s3_multipart_upload_failing_midway_commits_nothing(s3_env, tmp_path):
    storage = S3Storage(
        f"s3://{s3_env}/odf",
        TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=1),
    )
    key = "assets/x/date=2024-01-01/data.parquet"
    storage.publish_bytes(b"previous version", key)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 << 20))
    parts = {"n": 0}

    def drop_second_part(**kwargs):
        parts["n"] += 1
        if parts["n"] == 2:
            raise ConnectionResetError("injected: connection lost during part 2")

    storage.client.meta.events.register("before-send.s3.UploadPart", drop_second_part)
    with pytest.raises(Exception, match="injected"):
        storage.publish_file(big, key)
    assert storage.read_bytes(key) == b"previous version"
    uploads = boto3.client("s3").list_multipart_uploads(Bucket=s3_env).get("Uploads", [])
    assert uploads == [], "the failed multipart upload must be aborted"


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "a/../../b", "/abs", "a//b", ".hidden", "date=2024-01-01/../../x", "a\\b", ""]
)
def test_keys_cannot_escape_the_storage_base(bad):
    with pytest.raises(UnsafeKeyError):
        safe_key(bad)


def test_s3_storage_lists_relative_keys_and_sizes(s3_env):
    storage = storage_from_uri(f"s3://{s3_env}/base")
    storage.publish_bytes(b"abc", "landing/x/date=2024-01-01/a.jsonl")
    listed = storage.list("landing/x")
    assert [(o.key, o.size) for o in listed] == [("landing/x/date=2024-01-01/a.jsonl", 3)]
    assert storage.exists("landing/x/date=2024-01-01/a.jsonl") and not storage.exists("landing/x/none")


@dg.asset(partitions_def=DAILY, io_manager_key="pq")
def sparse_days(context: dg.AssetExecutionContext) -> pl.LazyFrame:
    """Rows for only some days of the range, plus (when asked) a row outside it."""
    days = [date(2024, 1, 2), date(2024, 1, 4)] + ([date(2024, 1, 14)] if context.run.tags.get("stray") else [])
    return pl.LazyFrame({"date": days, "v": list(range(len(days)))})


def test_range_output_split_in_one_pass_refuses_stray_rows_and_fills_empty_days(tmp_path):
    base = str(tmp_path / "store")
    rng = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-05"}
    assert run([sparse_days], base, tags=rng).success
    assert read(base, "sparse_days/date=2024-01-04/data.parquet")["v"].to_list() == [1]
    empty = read(base, "sparse_days/date=2024-01-03/data.parquet")
    assert empty.height == 0 and empty.schema == pl.Schema({"date": pl.Date, "v": pl.Int64})
    before = read(base, "sparse_days/date=2024-01-02/data.parquet")
    stray = run([sparse_days], base, tags={**rng, "stray": "yes"})
    assert not stray.success
    message = failure_messages(stray)
    assert "rows with date=['2024-01-14'] are outside the partitions being written (2024-01-01..2024-01-05)" in message
    assert read(base, "sparse_days/date=2024-01-02/data.parquet").equals(before)


def test_rows_in_memory_are_split_per_day_without_a_folder_per_day_and_stray_rows_are_refused(tmp_path):
    frame = pl.DataFrame({"date": [date(2024, 1, 3), date(2024, 1, 1), date(2024, 1, 3)], "v": [1, 2, 3]})
    staged = stage_partitions(frame, "date", ["2024-01-01", "2024-01-02", "2024-01-03"], tmp_path / "s", "x")
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["0.parquet", "1.parquet", "2.parquet"]
    assert pl.read_parquet(staged["2024-01-03"])["v"].to_list() == [1, 3]
    empty = pl.read_parquet(staged["2024-01-02"])
    assert empty.height == 0 and empty.schema == frame.schema
    for stray, named in ((date(2024, 1, 9), "'2024-01-09'"), (None, "'__HIVE_DEFAULT_PARTITION__'")):
        with pytest.raises(dg.Failure, match=f"rows with date=\\[{named}\\] are outside"):
            stage_partitions(pl.DataFrame({"date": [stray]}), "date", ["2024-01-01"], tmp_path / "t", "x")


def test_a_staged_file_is_published_by_rename_with_its_bytes(tmp_path):
    storage = storage_from_uri(str(tmp_path / "store"))
    with storage.staging_area() as folder:
        staged = folder / "0.parquet"
        staged.write_bytes(b"finished bytes")
        inode = staged.stat().st_ino
        storage.publish_staged_file(staged, "a/date=2024-01-01/data.parquet")
        assert not staged.exists(), "moved, not copied"
    stored = tmp_path / "store" / "a" / "date=2024-01-01" / "data.parquet"
    assert stored.read_bytes() == b"finished bytes" and stored.stat().st_ino == inode
    (tmp_path / "store" / "b").symlink_to(tmp_path)
    with storage.staging_area() as folder, pytest.raises(UnsafeKeyError):
        (folder / "1.parquet").write_bytes(b"x")
        storage.publish_staged_file(folder / "1.parquet", "b/data.parquet")


@pytest.mark.parametrize("rows", [0, 5, 6, 40])
def test_a_published_file_is_described_by_its_rows_schema_and_first_rows(tmp_path, rows):
    path = tmp_path / "day.parquet"
    schema = {"date": pl.Date, "v": pl.Int64}
    pl.DataFrame({"date": [date(2024, 1, 1)] * rows, "v": list(range(rows))}, schema=schema).write_parquet(path)
    described = describe_parquet(path)
    assert described["dagster/row_count"] == rows
    assert [(c.name, c.type) for c in described["dagster/column_schema"].columns] == [("date", "Date"), ("v", "Int64")]
    assert described["preview"].value.count("\n") == 1 + min(rows, 5)
