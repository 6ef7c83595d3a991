"""Issue 22, observations 1, 2 and 11: one hostile record (or file) beside 50 good items rejects
only itself, with a reason; the rest of the date is scored, locally and on S3; values finite as
float64 but not in the model's float32, or outside the features' declared domain, are rejects."""

from __future__ import annotations

import io

import polars as pl
import pytest

from odf_assets.predictions import landing_keys, landing_records, store, transforms
from tests.predictions.helpers import item, jsonl, land_raw, materialize_model
from tests.predictions.helpers import materialize_predictions as materialize

DAY = "2024-05-01"
GOOD = 50
FEATURES_JSON = ', "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2'
CSV_HEADER = b"id,sepal_length,sepal_width,petal_length,petal_width\n"

# (file name, body, what its reason says): each crashed the whole date before.
HOSTILE_JSONL = {
    "huge-int.jsonl": (b'{"id": "h1", "sepal_length": 1' + b"0" * 400 + FEATURES_JSON.encode() + b"}\n", "digits"),
    "5000-digit-id.jsonl": (
        b'{"id": ' + b"7" * 5000 + b', "sepal_length": 5.1' + FEATURES_JSON.encode() + b"}\n",
        "digits",
    ),
    "nested-100k.jsonl": (b"[" * 100_000 + b"\n", "above the limit of"),
    "nested-2k.jsonl": (b"[" * 2_000 + b"]" * 2_000 + b"\n", "levels deep"),
    "giant-id.jsonl": (
        b'{"id": "' + b"x" * 1_000_000 + b'", "sepal_length": 5.1' + FEATURES_JSON.encode() + b"}\n",
        "above the limit of 8192",
    ),
    "float32-overflow.jsonl": (
        jsonl(item("f1", sepal_length=1e300), item("f2", petal_width=3.5e38), item("f3", petal_length=1e30)),
        "outside the declared domain",
    ),
    "negative.jsonl": (jsonl(item("n1", sepal_width=-4.0)), "outside the declared domain [0, 100]"),
}
HOSTILE_CSV = {
    "wide-field.csv": (CSV_HEADER + b"w1," + b"9" * 200_000 + b",3.5,1.4,0.2\n", "above the limit of"),
    "long-field.csv": (CSV_HEADER + b"w2,5.1,3.5,1.4," + b"1" * 2_000 + b"\n", "field of 2000 characters"),
    "quote.csv": (CSV_HEADER + b'q1,"5.1,3.5,1.4,0.2\nq2,5.1,3.5,1.4,0.2\n', None),
}


def land_day(storage_uri: str) -> None:
    good = [item(f"g{n}", petal_length=1.0 + n / 20) for n in range(GOOD)]
    # Hostile lines also sit between good ones of the same file: only those lines are rejected.
    mixed = jsonl(*good[:25]) + HOSTILE_JSONL["huge-int.jsonl"][0] + jsonl(*good[25:])
    land_raw(storage_uri, f"landing/iris/date={DAY}/good.jsonl", mixed)
    for name, (body, _) in {**HOSTILE_JSONL, **HOSTILE_CSV}.items():
        land_raw(storage_uri, f"landing/iris/date={DAY}/{name}", body)


def test_each_hostile_record_rejects_only_itself_and_the_date_is_scored(storage, storage_uri):
    land_day(storage_uri)
    materialize_model(storage_uri)
    result = materialize(storage_uri, DAY)
    assert result.success

    predictions = store.read_stored(storage, store.PREDICTIONS_PATH, DAY)
    rejects = store.read_stored(storage, store.REJECTS_PATH, DAY)
    assert sorted(predictions["id"]) == sorted(f"g{n}" for n in range(GOOD)) + ["q2"]
    reasons = {(row["source_file"], row["line"]): row["reason"] for row in rejects.iter_rows(named=True)}
    assert "digits" in reasons[("good.jsonl", 26)]
    for name, (_, expected) in {**HOSTILE_JSONL, **HOSTILE_CSV}.items():
        found = [reason for (file, _), reason in reasons.items() if file == name]
        if expected is None:
            continue
        assert found and all(expected in reason for reason in found), (name, found)
        assert all(len(reason) < 600 for reason in found), "reasons quote hostile values capped"
    assert [r for (file, _), r in reasons.items() if file == "quote.csv"][0].startswith("expected 5 values")
    assert rejects.filter(pl.col("source_file") == "float32-overflow.jsonl").height == 3
    check = next(iter(result.get_asset_check_evaluations()))
    assert check.passed, check.metadata


@pytest.mark.parametrize(
    "body",
    [HOSTILE_JSONL[name][0] for name in ("huge-int.jsonl", "5000-digit-id.jsonl", "nested-100k.jsonl")]
    + [HOSTILE_JSONL["float32-overflow.jsonl"][0]],
    ids=["huge-int", "5000-digit-id", "nested-100k", "float32-overflow"],
)
def test_the_parser_never_raises_and_validation_rejects(body):
    entry = landing_keys.classify_landing_key(f"landing/iris/date={DAY}/x.jsonl", "v")
    valid, rejects = transforms.validate(landing_records.parse_landing_stream(entry, io.BytesIO(body)))
    assert valid.is_empty() and rejects.height >= 1 and rejects["reason"].null_count() == 0


def test_a_storage_read_error_is_not_blamed_on_the_file():
    class Broken:
        def read(self, _n):
            raise ConnectionResetError("connection reset by peer")

    entry = landing_keys.classify_landing_key(f"landing/iris/date={DAY}/x.jsonl", "v")
    with pytest.raises(ConnectionResetError):
        list(landing_records.landing_batches(entry, Broken()))


def test_model_outputs_that_are_not_probabilities_are_rejects():
    import numpy as np

    outputs = np.array([[0.2, 0.3, 0.5], [-5, 10, 0], [np.nan, 0.5, 0.5], [0.9, 0.9, 0.9]], dtype=np.float32)
    assert transforms.invalid_outputs(outputs).tolist() == [False, True, True, True]
    valid = pl.DataFrame({"id": ["a", "b", "c", "d"], "line": [1, 2, 3, 4]})
    reasons = transforms.output_rejects(valid, transforms.invalid_outputs(outputs), outputs)["reason"].to_list()
    assert reasons[0] == "the model returned [-5, 10, 0], not class probabilities"
