"""Naming, redaction, the IO manager's metadata hook, the sensor's cursor and backoff, and
transports from OPENLINEAGE_CONFIG (a file transport, with dataset names under an S3 ODF_STORAGE)."""

import json
import time

import dagster as dg
import polars as pl
import pytest

from odf_resources.lineage.feed import Naming
from odf_resources.lineage.metadata import lineage_metadata
from odf_resources.lineage.naming import dataset_identity, lineage_run_id
from odf_resources.lineage.transport import redact
from odf_resources.parquet_io_manager import OdfParquetIOManager
from odf_sensors.lineage import LineageCursor, Settings, deliver
from tests.lineage.conftest import SensorTicks
from tests.lineage.spec import validate


def test_dataset_identity_follows_openlineage_naming(tmp_path, monkeypatch):
    assert dataset_identity("s3://odf-data/prod/", ["raw", "sales"]) == ("s3://odf-data", "prod/raw/sales")
    assert dataset_identity("s3://odf-data", ["raw", "sales"]) == ("s3://odf-data", "raw/sales")
    monkeypatch.chdir(tmp_path)
    assert dataset_identity("./store", ["raw", "sales"]) == ("file", str(tmp_path.resolve() / "store/raw/sales"))
    with pytest.raises(ValueError, match="gs://bucket"):
        dataset_identity("gs://bucket", ["raw"])


def test_lineage_run_id_is_stable_per_asset_partition():
    run = "4c4dd6ed-2904-4be2-8bd0-afa2391fac23"
    assert lineage_run_id(run, "raw/sales", "2024-01-01") == lineage_run_id(run, "raw/sales", "2024-01-01")
    ids = {lineage_run_id(run, a, p) for a in ("raw/sales", "agg/sales") for p in ("2024-01-01", "2024-01-02", None)}
    assert len(ids) == 6


def test_redact_hides_api_key_and_url_credentials(monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "k-123-secret")
    text = redact("POST https://user:pw@lineage.example/api failed with header Bearer k-123-secret")
    assert "k-123-secret" not in text and "pw@" not in text and "lineage.example/api" in text


def test_lineage_metadata_never_fails_outside_a_run():
    context = dg.build_output_context(asset_key=dg.AssetKey(["raw", "sales"]))
    assert lineage_metadata(context, "2024-01-01") == {}


def test_without_transport_the_sensor_reads_nothing_and_keeps_its_cursor(make_instance):
    ticks = SensorTicks(make_instance())
    ticks.tick()
    assert ticks.cursor is None and "no OpenLineage transport configured" in ticks.skip_reasons[-1]


@dg.asset(
    key=["lt", "days"],
    partitions_def=dg.DailyPartitionsDefinition("2024-01-01"),
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def days(context: dg.AssetExecutionContext) -> None:
    """Fails: the run's failure record then stands for three FAIL events."""
    raise ValueError("no data")


@pytest.mark.timeout(60)
def test_a_failed_send_resumes_at_the_same_event_of_a_record_and_backs_off(make_instance, tmp_path):
    instance = make_instance()
    tags = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-03"}
    assert not dg.materialize([days], instance=instance, tags=tags, raise_on_error=False).success
    sent: list = []
    failures = iter([False, False, False, False, True, False, False, False])

    def flaky(event) -> None:
        if next(failures):
            raise ConnectionError("backend away")
        sent.append(event)

    naming, config = (
        Naming(str(tmp_path), "odf"),
        Settings(batch_size=100, tick_seconds=30, timeout=1, backoff_seconds=10, settle_seconds=1),
    )
    clock = time.time() + 60  # every record is settled
    first = deliver(instance, LineageCursor(), flaky, naming, config, now=lambda: clock)
    # 3 STARTs, then the run-failure record (3 FAILs) was cut after its first event; the cursor says so.
    assert first.error == "ConnectionError: backend away" and first.delivered == 4
    assert (first.cursor.sent, first.cursor.failures, first.cursor.retry_at) == (1, 1, clock + 10)
    # Not settled yet (now = the runs' own time): nothing is read.
    assert deliver(instance, first.cursor, flaky, naming, config, now=lambda: clock - 120).delivered == 0
    second = deliver(instance, first.cursor, flaky, naming, config, now=lambda: clock)
    assert second.error is None and second.cursor.failures == 0 and second.cursor.sent == 0 and second.delivered == 2
    keys = [(e.eventType.value, e.run.facets["nominalTime"].nominalStartTime[:10]) for e in sent]
    assert keys == [
        ("START", "2024-01-01"),
        ("START", "2024-01-02"),
        ("START", "2024-01-03"),
        ("FAIL", "2024-01-01"),
        ("FAIL", "2024-01-02"),
        ("FAIL", "2024-01-03"),
    ]
    assert LineageCursor.parse(second.cursor.dump()) == second.cursor
    # Backoff doubles per consecutive failure and is capped.
    always = deliver(
        instance,
        LineageCursor(failures=9),
        lambda e: (_ for _ in ()).throw(OSError("x")),
        naming,
        config,
        now=lambda: clock,
    )
    assert always.cursor.retry_at == clock + 600.0


@pytest.mark.timeout(60)
def test_openlineage_config_file_transport_and_configured_storage_base(make_instance, monkeypatch, tmp_path):
    events_file = tmp_path / "lineage.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(json.dumps({"transport": {"type": "file", "log_file_path": str(events_file), "append": True}}))
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    instance = make_instance()

    @dg.asset(key=["lt", "tiny"], partitions_def=dg.DailyPartitionsDefinition("2024-01-01"), io_manager_key="io")
    def tiny() -> pl.DataFrame:
        """Two rows."""
        return pl.DataFrame({"a": [1, 2]})

    io = OdfParquetIOManager.at(str(tmp_path / "storage"))
    assert dg.materialize([tiny], instance=instance, partition_key="2024-01-05", resources={"io": io}).success
    monkeypatch.setenv("ODF_STORAGE", "s3://odf-bucket/prod")  # the code location's storage names the datasets
    SensorTicks(instance).drain()
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate(event)
        assert [(o["namespace"], o["name"]) for o in event["outputs"]] == [("s3://odf-bucket", "prod/lt/tiny")]
    assert [f["name"] for f in events[1]["outputs"][0]["facets"]["schema"]["fields"]] == ["a"]
