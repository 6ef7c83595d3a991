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

from odf_assets.predictions.transforms import CLASS_LABELS, FEATURES, invalid_outputs
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


class UntrustedModelError(ValueError):
    """A model that must not be published or used: external data, a pin mismatch, invalid outputs."""


def external_data_locations(onnx_bytes: bytes) -> list[str]:
    """Where the model's tensors stored outside the file point (empty for a self-contained model).
    onnxruntime resolves them against the working directory when loading from bytes, so a model
    naming ``.env`` would read the worker's secrets into its weights."""
    import onnx
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    try:
        model = onnx.load_model_from_string(onnx_bytes)
    except Exception as error:  # noqa: BLE001 - protobuf raises its own DecodeError
        raise ModelSignatureError(f"not an ONNX model ({type(error).__name__})") from None
    return [
        next((entry.value for entry in tensor.external_data if entry.key == "location"), "?")
        for tensor in _get_all_tensors(model)
        if uses_external_data(tensor)
    ]


def refuse_external_data(onnx_bytes: bytes) -> None:
    if locations := external_data_locations(onnx_bytes):
        shown = sorted(set(locations))[:5]
        raise UntrustedModelError(
            f"the model reads tensors from external files {shown}; refused "
            "(publish a self-contained model, or set ODF_IRIS_MODEL_ALLOW_EXTERNAL_DATA=true for a local "
            "model whose data files sit in its own folder)"
        )


def _inlined_local_model(path: Path) -> bytes:
    """A local model with external data inside its own folder, as self-contained bytes."""
    import onnx

    folder = path.parent.resolve()
    for location in external_data_locations(path.read_bytes()):
        target = (folder / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(folder) or not target.is_file():
            raise UntrustedModelError(
                f"external data {location!r} of {path.name} is not a file inside the model's folder {folder}; refused"
            )
    return onnx.load(str(path)).SerializeToString()


def read_model_uri(uri: str, allow_external_data: bool = False) -> bytes:
    """An operator-supplied model: ``s3://bucket/key`` (AWS_* environment) or a local file path. Its
    bytes come back self-contained: external data is refused, or inlined when allowed and contained."""
    try:
        location = split_storage_uri(uri)
    except ValueError:
        raise ValueError(f"model URI {uri!r}: expected a local path or s3://bucket/key") from None
    if location:
        bucket, key = location
        if not key:
            raise ValueError(f"model URI {uri!r}: expected s3://bucket/key")
        from odf_resources.s3_storage import s3_client

        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    path = Path(uri).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    data = path.read_bytes()
    return _inlined_local_model(path) if allow_external_data and external_data_locations(data) else data


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
            refuse_external_data(onnx_bytes)  # whatever wrote the stored bytes
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


def check_publishable(card: dict, min_accuracy: float, pinned_sha256: str | None) -> None:
    """Refuses a model whose holdout outputs are not probabilities, whose holdout accuracy is under
    ``min_accuracy``, or whose checksum is not the operator's pin."""
    if card["holdout_invalid_outputs"]:
        raise UntrustedModelError(
            f"{card['holdout_invalid_outputs']} of {card['holdout_rows']} holdout rows got outputs that are "
            "not class probabilities (non-finite, outside [0, 1] or not summing to 1)"
        )
    if card["holdout_accuracy"] < min_accuracy:
        raise UntrustedModelError(
            f"holdout accuracy {card['holdout_accuracy']:.3f} is under the floor {min_accuracy} "
            "(ODF_IRIS_MODEL_MIN_ACCURACY)"
        )
    check_pin(card["sha256"], pinned_sha256)


def check_pin(checksum: str, pinned_sha256: str | None) -> None:
    if pinned_sha256 and checksum != pinned_sha256:
        raise UntrustedModelError(
            f"model sha256 {checksum} is not the pinned ODF_IRIS_MODEL_SHA256 {pinned_sha256}; refused"
        )


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
    probabilities = predict_probabilities(session, sig, holdout.test_x)
    predicted = probabilities.argmax(axis=1)
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
        "holdout_invalid_outputs": int(invalid_outputs(probabilities).sum()),
        "libraries": library_versions(),
    }
