"""End-to-end: sources served by a local HTTP server, added through ODF_SOURCES, materialized
in-process into temp-dir or loopback-S3 storage; bad input fails clearly and loses nothing."""

import hashlib
import io
import re
from datetime import date

import boto3
import dagster as dg
import polars as pl
import pytest

from odf.definitions import build_definitions
from odf_resources.source_fetcher import SourceFetcher
from tests.support.pipeline import failure_messages, read_partition, run_assets, write_registry
from tests.support.servers import respond

RAW, AGG = "raw/shop_sales", "aggregates/shop_sales/sales_by_shop"
DAYS = ["2024-02-01", "2024-02-02", "2024-02-03"]


def shop_source(url_template: str, fmt: str = "csv") -> dict:
    return {
        "name": "shop_sales",
        "description": "Daily sales of a few shops (test source).",
        "license": "CC0-1.0",
        "owner": "ODF tests",
        "group": "tests",
        "url_template": url_template,
        "format": fmt,
        "schema": {"receipt": "string", "shop": "string", "amount": "float64", "items": "int64"},
        "start_date": "2024-02-01",
        "key": ["receipt"],
        "checks": {"ranges": {"amount": {"min": 0}}},
        "aggregates": [
            {
                "name": "sales_by_shop",
                "group_by": ["shop"],
                "metrics": [
                    {"agg": "sum", "column": "amount", "name": "revenue"},
                    {"agg": "count", "name": "receipts"},
                ],
            }
        ],
    }


def day_frame(day: str) -> pl.DataFrame:
    n = int(day[-1])
    return pl.DataFrame(
        {
            "receipt": [f"{day}-{i}" for i in range(n + 2)],
            "shop": ["north" if i % 2 else "south" for i in range(n + 2)],
            "amount": [float(10 * n + i) for i in range(n + 2)],
            "items": [i + 1 for i in range(n + 2)],
        }
    )


def serve_day(root, day: str, fmt: str = "csv") -> bytes:
    frame, buffer = day_frame(day), io.BytesIO()
    {"csv": frame.write_csv, "jsonl": frame.write_ndjson, "json": frame.write_json, "parquet": frame.write_parquet}[
        fmt
    ](buffer)
    (root / f"{day}.{fmt}").write_bytes(buffer.getvalue())
    return buffer.getvalue()


@pytest.fixture
def shop_defs(source_server, tmp_path, monkeypatch):
    """Definitions with the test source registered through ODF_SOURCES (no code change)."""

    def build(fmt="csv", template=None):
        registry = write_registry(tmp_path, [shop_source(template or f"{source_server.url}/{{date}}.{fmt}", fmt)])
        monkeypatch.setenv("ODF_SOURCES", str(registry))
        return build_definitions()

    return build


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_extra_registry_source_materializes_raw_and_aggregate(shop_defs, source_server, tmp_path, fmt):
    served = {day: serve_day(source_server.root, day, fmt) for day in DAYS}
    defs = shop_defs(fmt)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {RAW, AGG} <= keys
    result = run_assets(defs, [RAW, AGG], partition_range=(DAYS[0], DAYS[-1]))
    assert result.success, failure_messages(result)
    storage = tmp_path / "storage"
    for day in DAYS:
        raw = read_partition(storage, RAW, day)
        assert raw.drop("date").equals(day_frame(day)) and raw["date"].unique().to_list() == [date.fromisoformat(day)]
        aggregate = read_partition(storage, AGG, day)
        expected = (
            day_frame(day)
            .group_by("shop")
            .agg(pl.col("amount").sum().alias("revenue"), pl.len().alias("receipts"))
            .sort("shop")
        )
        # Counts are int64, as SQL's COUNT (Polars' own len() is uint32).
        assert aggregate.schema["receipts"] == pl.Int64
        assert aggregate.select("shop", "revenue", "receipts").equals(
            expected.with_columns(pl.col("receipts").cast(pl.Int64))
        )
    # The raw asset's data version and metadata carry the content hash of what was fetched.
    single = run_assets(defs, [RAW], partition_key=DAYS[1])
    [event] = single.get_asset_materialization_events()
    assert event.materialization.metadata["content_sha256"].value == hashlib.sha256(served[DAYS[1]]).hexdigest()
    assert event.materialization.tags["dagster/data_version"] == hashlib.sha256(served[DAYS[1]]).hexdigest()
    # Two checks per asset and day, each with its parts and its declared severity, passing or not.
    evaluations = {e.check_name: e for e in single.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in evaluations.items()} == {"data_contract": True, "data_quality": True}
    contract, quality = evaluations["data_contract"], evaluations["data_quality"]
    assert contract.metadata["passed_parts"].value == [
        "non_empty_partition",
        "schema_matches_registry",
        "rows_conform",
        "key_is_unique",
    ]
    assert quality.metadata["passed_parts"].value == ["values_within_ranges"]
    assert (contract.severity, contract.blocking) == (dg.AssetCheckSeverity.ERROR, True)
    assert quality.severity == dg.AssetCheckSeverity.WARN and not quality.blocking
    assert contract.partition == quality.partition == DAYS[1]


def test_rematerializing_a_partition_gives_identical_data(shop_defs, source_server, tmp_path):
    serve_day(source_server.root, DAYS[0])
    defs = shop_defs()
    stored = tmp_path / "storage" / RAW / f"date={DAYS[0]}" / "data.parquet"
    instance = dg.DagsterInstance.ephemeral()
    digests, changed = [], []
    for _ in range(2):
        result = run_assets(defs, [RAW, AGG], partition_key=DAYS[0], instance=instance)
        assert result.success
        digests.append(hashlib.sha256(stored.read_bytes()).hexdigest())
        [raw_event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == RAW]
        changed.append(raw_event.materialization.metadata["content_changed"].value)
    assert digests[0] == digests[1]
    assert changed == [True, False], "the second fetch is recognised as the same content"


BAD_INPUTS = {
    "malformed row": (
        b"receipt,shop,amount,items\nr1,north,1.0,1\nr2,south,2.0,2,EXTRA\n",
        r"rows_conform: .*line 3 has 5 field\(s\), the header has 4",
    ),
    "missing column": (b"receipt,shop,amount\nr1,north,1.0\n", r"missing column\(s\) \['items'\]"),
    "wrong type": (
        b"receipt,shop,amount,items\nr1,north,1.0,1\nr2,south,lots,2\n",
        r"line 3, column 'amount': 'lots' is not a valid float64",
    ),
    "empty file": (b"", r"the file is empty \(0 bytes\); expected CSV"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_clearly_and_keeps_the_stored_partition(shop_defs, source_server, tmp_path, case):
    serve_day(source_server.root, DAYS[0])
    defs = shop_defs()
    assert run_assets(defs, [RAW], partition_key=DAYS[0]).success
    good = read_partition(tmp_path / "storage", RAW, DAYS[0])
    body, expected = BAD_INPUTS[case]
    (source_server.root / f"{DAYS[0]}.csv").write_bytes(body)
    result = run_assets(defs, [RAW], partition_key=DAYS[0])
    assert not result.success
    message = failure_messages(result)
    assert "shop_sales" in message and DAYS[0] in message
    assert re.search(expected, message), message
    assert read_partition(tmp_path / "storage", RAW, DAYS[0]).equals(good)


def test_http_500_oversized_and_disallowed_scheme_fail_clearly(shop_defs, source_server, tmp_path):
    serve_day(source_server.root, DAYS[0])
    defs = shop_defs()
    assert run_assets(defs, [RAW], partition_key=DAYS[0]).success
    good = read_partition(tmp_path / "storage", RAW, DAYS[0])
    source_server.script(f"/{DAYS[0]}.csv", respond(500))
    fast = SourceFetcher(max_attempts=2, backoff_seconds=0.01, timeout_seconds=2, allowed_hosts=["127.0.0.1"])
    limited = dg.Definitions(assets=list(defs.assets), resources={**defs.resources, "source_fetcher": fast})
    result = run_assets(limited, [RAW], partition_key=DAYS[0])
    assert (
        not result.success
        and "gave up after 2 attempts" in failure_messages(result)
        and "HTTP 500" in failure_messages(result)
    )
    source_server.scripted.clear()
    tiny = dg.Definitions(
        assets=list(defs.assets),
        resources={**defs.resources, "source_fetcher": SourceFetcher(max_bytes=10, allowed_hosts=["127.0.0.1"])},
    )
    result = run_assets(tiny, [RAW], partition_key=DAYS[0])
    assert not result.success and "exceeds the maximum of 10 bytes" in failure_messages(result)
    ftp = shop_defs(template="ftp://127.0.0.1/{date}.csv")
    result = run_assets(ftp, [RAW], partition_key=DAYS[0])
    assert not result.success and "scheme 'ftp' is not allowed" in failure_messages(result)
    assert read_partition(tmp_path / "storage", RAW, DAYS[0]).equals(good)


def test_s3_storage_gets_one_object_per_asset_and_date(shop_defs, source_server, s3_env, monkeypatch):
    for day in DAYS[:2]:
        serve_day(source_server.root, day)
    monkeypatch.setenv("ODF_STORAGE", f"s3://{s3_env}/odf")
    defs = shop_defs()
    assert run_assets(defs, [RAW, AGG], partition_range=(DAYS[0], DAYS[1])).success
    listed = boto3.client("s3").list_objects_v2(Bucket=s3_env)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(
        f"odf/{asset}/date={day}/data.parquet" for asset in (RAW, AGG) for day in DAYS[:2]
    )
    body = boto3.client("s3").get_object(Bucket=s3_env, Key=f"odf/{RAW}/date={DAYS[1]}/data.parquet")["Body"].read()
    assert pl.read_parquet(io.BytesIO(body)).drop("date").equals(day_frame(DAYS[1]))


def test_extra_source_columns_are_dropped_and_flagged_by_the_schema_check(shop_defs, source_server, tmp_path):
    (source_server.root / f"{DAYS[0]}.csv").write_text("receipt,shop,amount,items,coupon\nr1,north,1.5,2,SPRING\n")
    result = run_assets(shop_defs(), [RAW], partition_key=DAYS[0])
    assert result.success
    stored = read_partition(tmp_path / "storage", RAW, DAYS[0])
    assert stored.columns == ["receipt", "shop", "amount", "items", "date"]
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    # Extra columns warn (the quality check) and do not block (the contract check passes).
    quality = evaluations["data_quality"]
    assert not quality.passed and quality.severity == dg.AssetCheckSeverity.WARN
    assert quality.metadata["failed_parts"].value == ["schema_matches_registry"]
    assert quality.metadata["schema_matches_registry.extra_source_columns"].value == ["coupon"]
    assert "coupon" in quality.description
    assert evaluations["data_contract"].passed and evaluations["data_contract"].severity == dg.AssetCheckSeverity.ERROR


def test_declared_money_column_sums_exactly_and_refuses_a_third_decimal(source_server, tmp_path, monkeypatch):
    source = shop_source(f"{source_server.url}/{{date}}.csv") | {"decimals": {"amount": 2}}
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [source])))
    defs = build_definitions()
    amounts = {DAYS[0]: [0.1, 0.2], DAYS[1]: [19.99, 10.125, 1.0]}
    for day, values in amounts.items():
        frame = pl.DataFrame(
            {
                "receipt": [f"{day}-{i}" for i in range(len(values))],
                "shop": ["north"] * len(values),
                "amount": values,
                "items": [1] * len(values),
            }
        )
        frame.write_csv(source_server.root / f"{day}.csv")
    assert run_assets(defs, [RAW, AGG], partition_key=DAYS[0]).success
    # Exact: float addition gives 0.1 + 0.2 = 0.30000000000000004.
    assert read_partition(tmp_path / "storage", AGG, DAYS[0])["revenue"].to_list() == [0.3]
    refused = run_assets(defs, [RAW, AGG], partition_key=DAYS[1])
    assert not refused.success
    message = failure_messages(refused)
    assert "raw/shop_sales (source shop_sales): row 1 {'receipt': '2024-02-02-1'} field 'amount' is 10.125" in message
