"""Fault matrix: storage failing mid-write, type drift between days, concurrent writers.

Each case asserts the run outcome and the data left behind: no partial object, the previous
version intact, and a later run that succeeds."""

import io
import subprocess
import sys
import textwrap

import boto3
import polars as pl

from odf.definitions import build_definitions
from tests.support.faults import CuttableProxy
from tests.support.pipeline import failure_messages, run_assets, shop_source, write_registry

RAW = "raw/shop_sales"


def registry(tmp_path, url_template, fmt="csv"):
    return write_registry(
        tmp_path,
        [
            shop_source(
                url_template=url_template,
                format=fmt,
                start_date="2024-02-01",
                schema={"receipt": "string", "amount": "float64"},
            )
        ],
    )


def s3_frame(bucket, key):
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return pl.read_parquet(io.BytesIO(body))


def test_s3_failing_mid_upload_keeps_previous_version_and_recovers(
    source_server, s3_env, moto_server, tmp_path, monkeypatch
):
    (source_server.root / "2024-02-01.csv").write_text("receipt,amount\nr1,1.0\n")
    monkeypatch.setenv("ODF_SOURCES", str(registry(tmp_path, f"{source_server.url}/{{date}}.csv")))
    monkeypatch.setenv("ODF_STORAGE", f"s3://{s3_env}/odf")
    proxy = CuttableProxy(moto_server.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # ODF talks to S3 through the faulty link
    key = f"odf/{RAW}/date=2024-02-01/data.parquet"
    try:
        assert run_assets(build_definitions(), [RAW], partition_key="2024-02-01").success
        before = s3_frame(s3_env, key)  # read directly from the server, not through the proxy
        (source_server.root / "2024-02-01.csv").write_text("receipt,amount\nr1,1.0\nr2,2.0\n")
        proxy.cut_uploads = 64
        failed = run_assets(build_definitions(), [RAW], partition_key="2024-02-01")
        assert not failed.success
        retries = [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert len(retries) == 2, "the raw asset's RetryPolicy retried the unavailable storage"
        assert proxy.cuts >= 3 and "Connection" in failure_messages(failed)
        assert s3_frame(s3_env, key).equals(before)
        listed = boto3.client("s3").list_objects_v2(Bucket=s3_env)["Contents"]
        assert [o["Key"] for o in listed] == [key], "no partial or temporary object"
        assert boto3.client("s3").list_multipart_uploads(Bucket=s3_env).get("Uploads", []) == []
        proxy.cut_uploads = None
        assert run_assets(build_definitions(), [RAW], partition_key="2024-02-01").success
        assert s3_frame(s3_env, key)["receipt"].to_list() == ["r1", "r2"]
    finally:
        proxy.close()


def test_type_drift_between_days_fails_naming_source_partition_column_and_row(source_server, tmp_path, monkeypatch):
    (source_server.root / "2024-02-01.jsonl").write_text(
        '{"receipt": "r1", "amount": 1.5}\n{"receipt": "r2", "amount": 2}\n'
    )
    (source_server.root / "2024-02-02.jsonl").write_text(
        '{"receipt": "r3", "amount": "3.25"}\n{"receipt": "r4", "amount": "n/a"}\n'
    )
    monkeypatch.setenv("ODF_SOURCES", str(registry(tmp_path, f"{source_server.url}/{{date}}.jsonl", "jsonl")))
    defs = build_definitions()
    assert run_assets(defs, [RAW], partition_key="2024-02-01").success
    drifted = run_assets(defs, [RAW], partition_key="2024-02-02")
    assert not drifted.success
    message = failure_messages(drifted)
    assert (
        "shop_sales partition 2024-02-02" in message
        and "line 2, column 'amount': 'n/a' is not a valid float64" in message
    )
    day_one = pl.read_parquet(tmp_path / "storage" / RAW / "date=2024-02-01" / "data.parquet")
    assert day_one["amount"].to_list() == [1.5, 2.0]
    assert not (tmp_path / "storage" / RAW / "date=2024-02-02").exists()


WRITER = textwrap.dedent("""
    import sys, dagster as dg, polars as pl
    from odf_resources.parquet_io_manager import OdfParquetIOManager
    base, label, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])

    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"), io_manager_key="pq")
    def contested() -> pl.DataFrame:
        return pl.DataFrame({"writer": [label] * 200_000, "n": range(200_000)})

    for _ in range(rounds):
        assert dg.materialize(
            [contested], partition_key="2024-01-05", resources={"pq": OdfParquetIOManager.at(base)}
        ).success
""")


def test_concurrent_runs_of_one_partition_never_interleave(storage_uri):
    base = storage_uri
    # The children inherit this process's environment, which s3_env points at the moto server.
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, base, label, "4"]) for label in ("a", "b")]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    from odf_resources.storage import storage_from_uri

    stored = pl.read_parquet(io.BytesIO(storage_from_uri(base).read_bytes("contested/date=2024-01-05/data.parquet")))
    assert stored.height == 200_000 and stored["writer"].n_unique() == 1, "one writer's complete version, never a mix"
    assert stored["n"].to_list() == list(range(200_000))
