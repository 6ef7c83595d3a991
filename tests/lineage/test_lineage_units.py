"""Naming, redaction, the IO manager's metadata hook, the emitter's bounds, and transports from
OPENLINEAGE_CONFIG (a file transport, with dataset names from a configured S3 storage base)."""

import json
import logging
import threading

import dagster as dg
import polars as pl
import pytest

from odf_resources.lineage.emitter import BackgroundEmitter, redact
from odf_resources.lineage.metadata import lineage_metadata
from odf_resources.lineage.naming import dataset_identity, lineage_run_id
from odf_resources.parquet_io_manager import PolarsParquetIOManager
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


def test_emitter_is_inert_without_transport_and_drops_when_full(monkeypatch, caplog):
    idle = BackgroundEmitter()
    idle.emit(object())
    assert idle._pid is None, "no transport configured: no worker thread, nothing queued"

    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    busy, release = threading.Event(), threading.Event()

    class StuckClient:
        def emit(self, event):
            busy.set()
            release.wait(10)

    emitter = BackgroundEmitter(queue_size=1, flush_timeout=0.2, client_factory=lambda timeout: StuckClient())
    emitter.emit("first")
    assert busy.wait(5)
    emitter.emit("queued")
    emitter.emit("dropped")
    assert emitter.dropped == 1
    assert "OpenLineage queue full" in caplog.text
    assert not emitter.flush(0.2)
    release.set()
    assert emitter.flush(5)


@pytest.mark.timeout(60)
def test_openlineage_config_file_transport_and_configured_storage_base(make_instance, monkeypatch, tmp_path):
    events_file = tmp_path / "lineage.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(json.dumps({"transport": {"type": "file", "log_file_path": str(events_file), "append": True}}))
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    instance = make_instance(storage_base="s3://odf-bucket/prod")

    @dg.asset(key=["lt", "tiny"], partitions_def=dg.DailyPartitionsDefinition("2024-01-01"), io_manager_key="io")
    def tiny() -> pl.DataFrame:
        """Two rows."""
        return pl.DataFrame({"a": [1, 2]})

    io = PolarsParquetIOManager(base=str(tmp_path / "storage"))
    assert dg.materialize([tiny], instance=instance, partition_key="2024-01-05", resources={"io": io}).success
    assert instance.event_log_storage.emitter.flush(10)
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate(event)
        assert [(o["namespace"], o["name"]) for o in event["outputs"]] == [("s3://odf-bucket", "prod/lt/tiny")]
    assert [f["name"] for f in events[1]["outputs"][0]["facets"]["schema"]["fields"]] == ["a"]


def test_failures_are_logged_at_warning_once_per_kind(monkeypatch, caplog):
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")

    class Broken:
        def emit(self, event):
            raise ConnectionError("refused")

    emitter = BackgroundEmitter(client_factory=lambda timeout: Broken())
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            emitter.emit("event")
        assert emitter.flush(5)
    assert caplog.text.count("OpenLineage emit failed (ConnectionError: refused)") == 1
