"""The model asset: a loadable ONNX matching scikit-learn, its model card, and operator-supplied models."""

from __future__ import annotations

import hashlib
import json

import boto3
import dagster as dg
import numpy as np
import onnxruntime as ort
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from odf_assets.predictions import store
from odf_assets.predictions.assets import IRIS_MODEL
from odf_assets.predictions.model import iris_holdout, to_onnx_bytes, train_iris_classifier
from odf_resources.storage import storage_from_uri
from tests.predictions.helpers import (
    item,
    jsonl,
    land,
    materialization_metadata,
    materialize_model,
    materialize_predictions,
)

pytestmark = pytest.mark.timeout(180)


def other_model_bytes() -> bytes:
    """A different classifier than the asset trains, so its checksum proves which model scored."""
    holdout = iris_holdout()
    return to_onnx_bytes(
        make_pipeline(DecisionTreeClassifier(max_depth=2, random_state=0)).fit(holdout.train_x, holdout.train_y)
    )


def test_model_asset_stores_onnx_matching_scikit_learn(storage_uri):
    result = materialize_model(storage_uri)
    storage = storage_from_uri(storage_uri)
    card = json.loads(storage.read_bytes(store.MODEL_CARD_KEY))
    onnx_bytes = storage.read_bytes(card["onnx_key"])
    assert hashlib.sha256(onnx_bytes).hexdigest() == card["sha256"]

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    features = load_iris().data.astype(np.float32)
    labels, probabilities = session.run(["label", "probabilities"], {"features": features})
    reference = train_iris_classifier(iris_holdout())
    np.testing.assert_array_equal(labels, reference.predict(features))
    np.testing.assert_allclose(probabilities, reference.predict_proba(features), atol=1e-5)

    metadata = materialization_metadata(result, IRIS_MODEL)
    assert metadata["class_labels"].value == "setosa, versicolor, virginica"
    assert metadata["input_name"].value == "features" and metadata["input_dtype"].value == "tensor(float)"
    assert json.loads(metadata["input_shape"].value) == [None, 4]
    assert metadata["output_names"].value == "label, probabilities"
    assert metadata["sha256"].value == card["sha256"]
    assert 0.85 <= metadata["holdout_accuracy"].value <= 1.0
    assert metadata["source"].value.startswith("trained:")
    assert set(metadata["libraries"].value) >= {"scikit-learn", "skl2onnx", "onnxruntime"}


@pytest.mark.parametrize("storage_uri", ["s3"], indirect=True)
def test_model_from_s3_is_used_by_the_predictions(storage_uri, s3_env, monkeypatch):
    external = other_model_bytes()
    boto3.client("s3").put_object(Bucket=s3_env, Key="models/iris-tree.onnx", Body=external)
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", f"s3://{s3_env}/models/iris-tree.onnx")
    storage = storage_from_uri(storage_uri)
    land(storage, "2024-05-01", "items.jsonl", jsonl(item("s"), item("v", 6.7, 3.1, 4.4, 1.4)))

    model = materialization_metadata(materialize_model(storage_uri), IRIS_MODEL)
    assert model["sha256"].value == hashlib.sha256(external).hexdigest()
    assert model["source"].value == f"external:s3://{s3_env}/models/iris-tree.onnx"
    materialize_predictions(storage_uri, "2024-05-01")
    predictions = store.read_stored(storage, store.PREDICTIONS_PATH, "2024-05-01")
    assert set(predictions["model_checksum"]) == {hashlib.sha256(external).hexdigest()}
    assert predictions.sort("id")["predicted_label"].to_list() == ["setosa", "versicolor"]


def test_model_from_a_local_path_in_settings(tmp_path, monkeypatch):
    path = tmp_path / "operator-model.onnx"
    path.write_bytes(other_model_bytes())
    uri = str(tmp_path / "storage")
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", str(path))
    metadata = materialization_metadata(materialize_model(uri), IRIS_MODEL)
    assert metadata["sha256"].value == hashlib.sha256(path.read_bytes()).hexdigest()
    assert store.current_model_card(storage_from_uri(uri))["source"] == f"external:{path}"


def test_a_model_with_a_zipmap_output_is_refused_with_a_clear_reason(tmp_path, monkeypatch):
    from skl2onnx import to_onnx

    holdout = iris_holdout()
    zipmapped = to_onnx(LogisticRegression(max_iter=500).fit(holdout.train_x, holdout.train_y), holdout.train_x[:1])
    path = tmp_path / "zipmap.onnx"
    path.write_bytes(zipmapped.SerializeToString())
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", str(path))
    with pytest.raises(dg.Failure, match="zipmap disabled"):
        materialize_model(str(tmp_path / "storage"))
    assert not storage_from_uri(str(tmp_path / "storage")).exists(store.MODEL_CARD_KEY)


def test_first_predictions_run_publishes_the_model_when_none_is(tmp_path, monkeypatch):
    assert IRIS_MODEL.to_user_string() == "predictions/iris_model"
    uri = str(tmp_path / "storage")
    result = materialize_predictions(uri, "2024-05-01")
    # Recorded as a materialization of the model asset, so the UI shows where the model came from.
    assert materialization_metadata(result, IRIS_MODEL)["source"].value.startswith("trained:")
    assert store.current_model_card(storage_from_uri(uri))["sha256"]

    # An operator's model that cannot be read fails the run with the reason, not a stack trace of ours.
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", str(tmp_path / "missing.onnx"))
    failed = materialize_predictions(str(tmp_path / "other"), "2024-05-01", raise_on_error=False)
    failure = next(event for event in failed.all_events if event.is_step_failure)
    assert "missing.onnx does not exist" in failure.event_specific_data.error.message
    assert failure.event_specific_data.user_failure_data.metadata["fix"].value.startswith("set ODF_IRIS_MODEL_URI")
