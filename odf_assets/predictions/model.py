"""The iris classifier: training, ONNX conversion, model cards and the per-process session cache.

Whatever produced the ONNX file (this module's training or an operator's own model), scoring only
relies on its signature: one float input of 4 features, one float tensor of 3 class probabilities
in the order of ``CLASS_LABELS``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from odf_assets.predictions.transforms import CLASS_LABELS, FEATURES
from odf_resources.storage import split_storage_uri

# numpy, onnxruntime, boto3 and scikit-learn are imported where used: every process that loads the
# code location (code server, run workers, sensor ticks) would otherwise pay for them.
if TYPE_CHECKING:
    import numpy as np
    import onnxruntime as ort

RANDOM_STATE = 42
HOLDOUT_FRACTION = 0.3
INPUT_NAME = "features"
LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")
# Large enough that per-call overhead is noise, small enough to bound the output buffers.
CHUNK_ROWS = 1_000_000


class ModelSignatureError(ValueError):
    """An ONNX model whose inputs/outputs cannot serve as the iris classifier."""


@dataclass(frozen=True)
class Holdout:
    train_x: np.ndarray
    test_x: np.ndarray
    train_y: np.ndarray
    test_y: np.ndarray


@dataclass(frozen=True)
class Signature:
    input_name: str
    input_shape: list
    input_type: str
    output_names: list[str]
    probability_output: str


def iris_holdout() -> Holdout:
    """scikit-learn's bundled iris data, split once with a fixed seed so accuracies are comparable."""
    # scikit-learn takes seconds to import: only the model asset and the benchmark pay for it.
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    data = load_iris()
    if tuple(name.replace(" (cm)", "").replace(" ", "_") for name in data.feature_names) != FEATURES:
        raise RuntimeError(f"unexpected iris feature names {data.feature_names}")
    parts = train_test_split(
        data.data.astype(np.float32),
        data.target,
        test_size=HOLDOUT_FRACTION,
        random_state=RANDOM_STATE,
        stratify=data.target,
    )
    return Holdout(*parts)


def train_iris_classifier(holdout: Holdout):
    """Scaler + multinomial logistic regression: its ONNX graph is a few dense ops, so batches are cheap."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=RANDOM_STATE)).fit(
        holdout.train_x, holdout.train_y
    )


def to_onnx_bytes(pipeline) -> bytes:
    """ONNX with probabilities as a plain float tensor (no ZipMap), input ``features`` [N, 4]."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    classifier = pipeline.steps[-1][1]
    onnx_model = convert_sklearn(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURES)]))],
        options={id(classifier): {"zipmap": False}},
        name="iris_classifier",  # a fixed graph name keeps the bytes (and checksum) reproducible
    )
    return onnx_model.SerializeToString()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_model_uri(uri: str) -> bytes:
    """An operator-supplied model: ``s3://bucket/key`` (AWS_* environment) or a local file path."""
    try:
        location = split_storage_uri(uri)
    except ValueError:
        raise ValueError(f"model URI {uri!r}: expected a local path or s3://bucket/key") from None
    if location:
        bucket, key = location
        if not key:
            raise ValueError(f"model URI {uri!r}: expected s3://bucket/key")
        from odf_resources.storage import s3_client

        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    path = Path(uri).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    return path.read_bytes()


def signature(session: ort.InferenceSession) -> Signature:
    """Checks the model fits the iris contract and names the probability output."""
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or inputs[0].shape[-1] != len(FEATURES):
        found = [(i.name, i.type, i.shape) for i in inputs]
        raise ModelSignatureError(f"expected one tensor(float) input of shape [N, {len(FEATURES)}], found {found}")
    outputs = session.get_outputs()
    candidates = [
        o.name for o in outputs if o.type == "tensor(float)" and len(o.shape) == 2 and o.shape[-1] == len(CLASS_LABELS)
    ]
    if not candidates:
        found = [(o.name, o.type, o.shape) for o in outputs]
        raise ModelSignatureError(
            f"expected a tensor(float) output of shape [N, {len(CLASS_LABELS)}] with class probabilities "
            f"(convert with zipmap disabled), found {found}"
        )
    chosen = "probabilities" if "probabilities" in candidates else candidates[0]
    return Signature(inputs[0].name, list(inputs[0].shape), inputs[0].type, [o.name for o in outputs], chosen)


_SESSIONS: dict[str, tuple[ort.InferenceSession, Signature]] = {}
_SESSIONS_LOCK = threading.Lock()


def session_for(onnx_bytes: bytes, checksum: str) -> tuple[ort.InferenceSession, Signature]:
    """One InferenceSession per model per process: building one costs far more than a batch."""
    with _SESSIONS_LOCK:
        if checksum not in _SESSIONS:
            if sha256(onnx_bytes) != checksum:
                raise ValueError(
                    f"model bytes do not match checksum {checksum}: the stored model is corrupt or changed"
                )
            import onnxruntime as ort

            session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            _SESSIONS[checksum] = (session, signature(session))
        return _SESSIONS[checksum]


def cached_session(checksum: str) -> tuple[ort.InferenceSession, Signature] | None:
    return _SESSIONS.get(checksum)


def predict_probabilities(session: ort.InferenceSession, sig: Signature, features: np.ndarray) -> np.ndarray:
    """Class probabilities for every row: one ``run`` per ``CHUNK_ROWS`` rows."""
    import numpy as np

    if len(features) == 0:
        return np.zeros((0, len(CLASS_LABELS)), dtype=np.float32)
    chunks = [
        session.run([sig.probability_output], {sig.input_name: features[start : start + CHUNK_ROWS]})[0]
        for start in range(0, len(features), CHUNK_ROWS)
    ]
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def model_card(onnx_bytes: bytes, *, source: str, holdout: Holdout) -> dict:
    """What the old ``/metadata`` endpoint served, measured on the bytes actually stored."""
    checksum = sha256(onnx_bytes)
    session, sig = session_for(onnx_bytes, checksum)
    predicted = predict_probabilities(session, sig, holdout.test_x).argmax(axis=1)
    return {
        "source": source,
        "model_version": checksum[:12],
        "sha256": checksum,
        "bytes": len(onnx_bytes),
        "input_name": sig.input_name,
        "input_shape": [dim if isinstance(dim, int) else None for dim in sig.input_shape],
        "input_dtype": sig.input_type,
        "output_names": sig.output_names,
        "probability_output": sig.probability_output,
        "class_labels": list(CLASS_LABELS),
        "features": list(FEATURES),
        "holdout_rows": len(holdout.test_y),
        "holdout_accuracy": round(float((predicted == holdout.test_y).mean()), 6),
        "libraries": library_versions(),
    }
