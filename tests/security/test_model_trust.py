"""Issue 22, observations 2 and 5: only a trusted, sound model scores. The operator's pin is checked
before use (a swapped card and model are refused), a model with invalid outputs or a holdout
accuracy under the floor is refused at publish, external data is refused unless allowed and inside
the model's own folder, and the model location is not run config."""

from __future__ import annotations

import hashlib

import dagster as dg
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression

from odf_assets.predictions import store
from odf_assets.predictions.model import external_data_locations, iris_holdout
from odf_resources.storage import storage_from_uri
from tests.predictions.helpers import item, jsonl, land, materialize_model, materialize_predictions
from tests.predictions.test_model import other_model_bytes

pytestmark = pytest.mark.timeout(180)
DAY = "2024-05-01"


def linear_model(weights: np.ndarray, bias: np.ndarray, softmax: bool) -> onnx.ModelProto:
    """An ONNX model of the iris signature: ``features @ weights + bias``, then softmax if asked."""
    nodes = [
        helper.make_node("MatMul", ["features", "weights"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits" if softmax else "probabilities"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32), "weights"),
            numpy_helper.from_array(bias.astype(np.float32), "bias"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def constant_model(outputs: list[float]) -> bytes:
    """Answers ``outputs`` for every row."""
    return linear_model(np.zeros((4, 3)), np.array(outputs), softmax=False).SerializeToString()


def with_external_weights(location: str, folder) -> bytes:
    """An accurate logistic regression whose weights are read from ``location`` (written in ``folder``)."""
    holdout = iris_holdout()
    fitted = LogisticRegression(max_iter=2000).fit(holdout.train_x, holdout.train_y)
    model = linear_model(fitted.coef_.T, fitted.intercept_, softmax=True)
    tensor = next(t for t in model.graph.initializer if t.name == "weights")
    (folder / location).write_bytes(numpy_helper.to_array(tensor).tobytes())
    onnx.external_data_helper.set_external_data(tensor, location=location)
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("outputs", "reason"),
    [([-5.0, 10.0, float("nan")], "not class probabilities"), ([0.0, 0.0, 1.0], "holdout accuracy 0.333 is under")],
)
def test_an_unsound_model_is_refused_at_publish(tmp_path, monkeypatch, outputs, reason):
    path = tmp_path / "model.onnx"
    path.write_bytes(constant_model(outputs))
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", str(path))
    with pytest.raises(dg.Failure, match=reason):
        materialize_model(str(tmp_path / "storage"))
    assert not storage_from_uri(str(tmp_path / "storage")).exists(store.MODEL_CARD_KEY)


def test_a_swapped_model_and_card_are_refused_by_the_pin(tmp_path, monkeypatch):
    uri = str(tmp_path / "storage")
    storage = storage_from_uri(uri)
    materialize_model(uri)
    trusted = store.current_model_card(storage)["sha256"]
    # Someone with write access to storage swaps the model and its card together.
    swapped = other_model_bytes()
    card = {**store.current_model_card(storage), "sha256": hashlib.sha256(swapped).hexdigest()}
    card.pop("onnx_key")
    store.publish_model(storage, swapped, card)
    land(storage, DAY, "a.jsonl", jsonl(item("a")))
    monkeypatch.setenv("ODF_IRIS_MODEL_SHA256", trusted)
    failed = materialize_predictions(uri, DAY, raise_on_error=False)
    failure = next(event for event in failed.all_events if event.is_step_failure)
    assert f"is not the pinned ODF_IRIS_MODEL_SHA256 {trusted}" in failure.event_specific_data.error.message
    assert store.read_stored(storage, store.PREDICTIONS_PATH, DAY) is None

    path = tmp_path / "other.onnx"
    path.write_bytes(swapped)
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", str(path))
    with pytest.raises(dg.Failure, match="not the pinned"):
        materialize_model(uri)


def test_external_data_is_refused_unless_allowed_and_inside_the_model_folder(tmp_path, monkeypatch):
    worker = tmp_path / "worker"
    worker.mkdir()
    monkeypatch.chdir(worker)  # onnxruntime resolves external data of in-memory models against the cwd
    models = tmp_path / "models"
    models.mkdir()
    path = models / "model.onnx"
    path.write_bytes(with_external_weights(".env", worker))
    (models / ".env").write_bytes((worker / ".env").read_bytes())
    monkeypatch.setenv("ODF_IRIS_MODEL_URI", str(path))
    with pytest.raises(dg.Failure, match=r"reads tensors from external files \['.env'\]"):
        materialize_model(str(tmp_path / "storage"))

    monkeypatch.setenv("ODF_IRIS_MODEL_ALLOW_EXTERNAL_DATA", "true")
    materialize_model(str(tmp_path / "storage"))  # contained: inlined into the published bytes
    storage = storage_from_uri(str(tmp_path / "storage"))
    published = storage.read_bytes(store.current_model_card(storage)["onnx_key"])
    assert external_data_locations(published) == []

    path.write_bytes(with_external_weights("../worker/.env", models))
    with pytest.raises(dg.Failure, match="is not a file inside the model's folder"):
        materialize_model(str(tmp_path / "other-storage"))


def test_the_model_location_is_not_run_config(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(other_model_bytes())
    config = {"ops": {"predictions__iris_model": {"config": {"onnx_uri": str(path)}}}}
    materialize_model(str(tmp_path / "storage"), run_config=config)
    # Whoever can launch a run (UI, GraphQL) cannot choose the model: only ODF_IRIS_MODEL_URI can.
    assert store.current_model_card(storage_from_uri(str(tmp_path / "storage")))["source"].startswith("trained:")
