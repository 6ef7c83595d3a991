"""One date end to end: landing files → model → predictions + rejects Parquet → check → query command."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import polars as pl
import pytest

from odf_assets.predictions import store
from odf_assets.predictions.assets import EVERY_LANDED_ITEM_ACCOUNTED_FOR, IRIS_PREDICTIONS, IRIS_REJECTS
from odf_assets.predictions.model import iris_holdout, train_iris_classifier
from odf_cli.main import main as odf
from tests.predictions.helpers import (
    item,
    jsonl,
    land,
    land_raw,
    materialization_metadata,
    materialize_model,
    materialize_predictions,
)

pytestmark = pytest.mark.timeout(240)
DAY = "2024-04-10"
CSV_HEADER = "id,sepal_length,sepal_width,petal_length,petal_width\n"


def land_day(storage, storage_uri) -> None:
    land(
        storage,
        DAY,
        "morning.jsonl",
        jsonl(item("s1"), item("v1", 6.4, 3.2, 4.5, 1.5), item("g1", 7.7, 2.8, 6.7, 2.0)) + b"{broken\n",
    )
    land(
        storage,
        DAY,
        "bulk-2.csv",
        (CSV_HEADER + "s2,5.0,3.4,1.5,0.2\nbad,1.0,inf,1.0,1.0\ns1,1,1,1,1\n,5,3,1,0.2\n").encode(),
    )
    land(storage, DAY, "readme.txt", b"not items")
    land_raw(storage_uri, f"landing/iris/date={DAY}/items from bob.jsonl", jsonl(item("bob")))


def query(capsys, *args: str) -> tuple[int, list[dict]]:
    status = odf(["predictions", "--date", DAY, "--format", "jsonl", *args])
    out = capsys.readouterr().out
    return status, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_a_date_is_scored_from_landing_files_and_queryable(storage, storage_uri, capsys):
    land_day(storage, storage_uri)
    materialize_model(storage_uri)
    result = materialize_predictions(storage_uri, DAY)

    predictions = store.read_stored(storage, store.PREDICTIONS_PATH, DAY)
    assert sorted(predictions["id"]) == ["g1", "s2", "v1"]
    features = (
        predictions.sort("id")
        .select("sepal_length", "sepal_width", "petal_length", "petal_width")
        .to_numpy()
        .astype(np.float32)
    )
    expected = np.asarray(["setosa", "versicolor", "virginica"])[
        train_iris_classifier(iris_holdout()).predict(features)
    ]
    assert (
        predictions.sort("id")["predicted_label"].to_list()
        == expected.tolist()
        == ["virginica", "setosa", "versicolor"]
    )
    sums = predictions.select(pl.sum_horizontal(pl.col("^probability_.*$"))).to_series()
    assert np.allclose(sums.to_numpy(), 1.0, atol=1e-5)
    assert predictions["model_checksum"].str.len_chars().to_list() == [64] * 3
    assert predictions.schema["predicted_at"] == pl.Datetime("us", "UTC")

    rejects = store.read_stored(storage, store.REJECTS_PATH, DAY)
    reasons = {(row["source_file"], row["line"]): row["reason"] for row in rejects.iter_rows(named=True)}
    assert reasons[("morning.jsonl", 4)].startswith("not valid JSON")
    assert reasons[("bulk-2.csv", 3)] == "sepal_width=inf is not finite"
    assert reasons[("morning.jsonl", 1)] == reasons[("bulk-2.csv", 4)] == "duplicate id 's1' (2 records in this date)"
    assert reasons[("bulk-2.csv", 5)] == "id is empty"
    assert "not a .jsonl or .csv file" in reasons[("readme.txt", 0)]
    assert "file name 'items from bob.jsonl' is not allowed" in reasons[("items from bob.jsonl", 0)]

    metadata = materialization_metadata(result, IRIS_PREDICTIONS)
    assert (
        metadata["landed_records"].value == 10 and metadata["predicted"].value == 3 and metadata["rejected"].value == 7
    )
    assert metadata["dagster/row_count"].value == 3
    assert materialization_metadata(result, IRIS_REJECTS)["dagster/row_count"].value == 7
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == EVERY_LANDED_ITEM_ACCOUNTED_FOR and check.passed
    # Shown in the UI with its day and its declared severity, not "Partition —" and WARN.
    assert (check.partition, check.severity) == (DAY, dg.AssetCheckSeverity.ERROR)

    assert query(capsys, "--status", "unpredicted") == (0, [])
    status, rows = query(capsys, "--id", "v1")
    assert status == 0 and [(r["status"], r["predicted_label"]) for r in rows] == [("predicted", "versicolor")]

    # A late file: its items are pending until the next run, which scores them.
    land(storage, DAY, "late.jsonl", jsonl(item("late-1", 6.0, 2.2, 5.0, 1.5)))
    status, rows = query(capsys, "--status", "unpredicted")
    assert [(r["id"], r["source_file"]) for r in rows] == [("late-1", "late.jsonl")]
    materialize_predictions(storage_uri, DAY)
    status, rows = query(capsys, "--status", "predicted", "--id", "late-1")
    assert status == 0 and len(rows) == 1
    _, everything = query(capsys)
    assert {r["status"] for r in everything} == {"predicted", "rejected"} and len(everything) == 11
    assert odf(["predictions", "--date", DAY, "--id", "nobody"]) == 1


@pytest.mark.parametrize("storage_uri", ["local"], indirect=True)
def test_check_fails_when_files_land_during_the_run(storage, storage_uri, monkeypatch):
    land(storage, DAY, "a.jsonl", jsonl(item("a")))
    materialize_model(storage_uri)
    real_stage_landed = store.stage_landed

    def read_then_client_drops_a_file(storage_, partition, *args):
        landed = real_stage_landed(storage_, partition, *args)
        land(storage_, partition, "during-run.jsonl", jsonl(item("b")))
        return landed

    # Not a mock of I/O: a real file lands between the run's read and its check.
    monkeypatch.setattr(store, "stage_landed", read_then_client_drops_a_file)
    (check,) = materialize_predictions(storage_uri, DAY).get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["files_landed_during_run"].value == [f"landing/iris/date={DAY}/during-run.jsonl"]


@pytest.mark.parametrize("storage_uri", ["local"], indirect=True)
def test_the_code_location_runs_what_the_sensor_requests(storage, storage_uri):
    from odf.definitions import build_definitions
    from odf_sensors.landing import LANDING_SENSOR

    defs = build_definitions()
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    land(storage, DAY, "a.jsonl", jsonl(item("a"), item("b", 6.3, 3.3, 6.0, 2.5)))
    materialize_model(storage_uri)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"odf_storage": defs.resources["odf_storage"]})
        (request,) = sensor(context).run_requests
        job = defs.resolve_job_def(request.job_name or sensor.job_name)
        assert job.execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags).success
    predictions = store.read_stored(storage, store.PREDICTIONS_PATH, DAY)
    assert predictions.sort("id")["predicted_label"].to_list() == ["setosa", "virginica"]
