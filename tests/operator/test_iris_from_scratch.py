"""The iris flow from an empty storage, as the daemon would drive it: a file lands, the sensor ticks,
the requested run executes, and ``odf predictions`` answers; a failed date is re-requested."""

from __future__ import annotations

import dagster as dg
import pytest

from odf_assets.predictions.assets import IRIS_MODEL, PREDICTION_ASSETS, iris_predictions_job
from odf_cli.main import main as odf
from odf_resources.storage import LocalStorage
from odf_sensors.landing import build_iris_landing_sensor
from odf_sensors.landing_retry import RETRY_TAG
from tests.predictions.helpers import item, jsonl, land, resources_for

pytestmark = pytest.mark.timeout(300)
DAY = "2024-05-01"


@pytest.fixture
def flow(tmp_path, monkeypatch, storage_uri):
    """A persistent instance in DAGSTER_HOME (what `odf predictions` reads) and a tick/run pair."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    uri = storage_uri
    defs = dg.Definitions(assets=PREDICTION_ASSETS, jobs=[iris_predictions_job], resources=resources_for(uri))
    instance = dg.DagsterInstance.get()

    class Flow:
        cursor = None

        def tick(self) -> list[dg.RunRequest]:
            with dg.build_sensor_context(
                instance=instance, cursor=self.cursor, resources=resources_for(uri)
            ) as context:
                result = build_iris_landing_sensor(30)(context)
            self.cursor = result.cursor
            return list(result.run_requests or [])

        def run(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
            job = defs.resolve_job_def(iris_predictions_job.name)
            return job.execute_in_process(
                instance=instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False
            )

    yield Flow(), instance
    instance.dispose()


def test_dropped_file_is_predicted_without_a_manual_model_step(flow, storage, capsys):
    flow, instance = flow
    land(storage, DAY, "batch-1.jsonl", jsonl(item("a1"), item("a2", 6.7, 3.0, 5.2, 2.3)))
    assert odf(["predictions", "--date", DAY, "--status", "unpredicted", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert "no predictions run for this date yet" in out and "landing/iris/date=2024-05-01" in err

    (request,) = flow.tick()
    result = flow.run(request)
    assert result.success
    if isinstance(storage, LocalStorage):  # its scoring and publishing left no staging folder behind
        assert not (storage.base / ".tmp-staging").exists()
    # The run published the model itself and recorded it as the model asset's materialization.
    assert instance.get_latest_materialization_event(IRIS_MODEL) is not None

    assert odf(["predictions", "--date", DAY, "--format", "csv"]) == 0
    out, _ = capsys.readouterr()
    assert out.count("predicted,") == 2 and "unpredicted" not in out
    assert flow.tick() == []  # nothing changed, nothing failed


def test_a_failed_date_is_requested_again_with_backoff_and_explained(flow, storage, monkeypatch, capsys):
    flow, _ = flow
    land(storage, DAY, "batch-1.jsonl", jsonl(item("a1")))
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", "/nonexistent/model.onnx")  # the model cannot be published
    (request,) = flow.tick()
    failed = flow.run(request)
    assert not failed.success

    assert odf(["predictions", "--date", DAY, "--status", "unpredicted", "--format", "csv"]) == 0
    out, _ = capsys.readouterr()
    assert f"last run {failed.run_id} failed: iris model from /nonexistent/model.onnx" in out

    monkeypatch.setenv("ODF_LANDING_RETRY_SECONDS", "3600")
    assert flow.tick() == []  # the backoff has not passed
    monkeypatch.setenv("ODF_LANDING_RETRY_SECONDS", "0")
    (retry,) = flow.tick()
    assert retry.partition_key == DAY and retry.tags[RETRY_TAG] == "1" and retry.run_key != request.run_key

    monkeypatch.delenv("ODF_IRIS_MODEL_URI")
    assert flow.run(retry).success
    assert flow.tick() == []
    assert odf(["predictions", "--date", DAY, "--status", "predicted", "--format", "csv"]) == 0
    assert "a1" in capsys.readouterr().out
