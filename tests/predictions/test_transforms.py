"""The pure logic: landing keys, record parsing, validation reasons and result frames."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from odf_assets.predictions import landing_keys, landing_records
from odf_assets.predictions import transforms as t
from tests.predictions.helpers import item, jsonl

DAY = "2024-02-03"


def entry(name: str, version: str = "v1") -> landing_keys.LandingEntry:
    return landing_keys.classify_landing_key(f"landing/iris/date={DAY}/{name}", version)


@pytest.mark.parametrize(
    ("key", "date", "problem"),
    [
        ("landing/iris/date=2024-02-03/a.jsonl", "2024-02-03", None),
        ("landing/iris/date=2024-02-03/batch-7.csv", "2024-02-03", None),
        ("landing/iris/date=2024-13-01/a.jsonl", None, "not a valid calendar date"),
        ("landing/iris/day=2024-02-03/a.jsonl", None, "not inside"),
        ("landing/iris/a.jsonl", None, "not inside"),
        ("landing/iris/date=2024-02-03/sub/a.jsonl", "2024-02-03", "sub-folder"),
        ("landing/iris/date=2024-02-03/my file.jsonl", "2024-02-03", "is not allowed"),
        ("landing/iris/date=2024-02-03/.hidden.jsonl", "2024-02-03", "is not allowed"),
        ("landing/iris/date=2024-02-03/a.parquet", "2024-02-03", "not a .jsonl or .csv"),
    ],
)
def test_landing_keys_are_classified_with_a_reason(key, date, problem):
    found = landing_keys.classify_landing_key(key, "v")
    assert found.date == date
    assert (found.problem is None) if problem is None else (problem in found.problem)


def test_jsonl_records_parse_and_problems_are_named_per_line():
    data = b"\n".join(
        [
            jsonl(item("a")).strip(),
            b'{"id": 7, "sepal_length": 6, "sepal_width": 3.0, "petal_length": 4.5, "petal_width": 1.5}',
            b"",
            b"{not json",
            b"[1, 2]",
            jsonl({**item("b"), "petal_width": "0.2"}).strip(),
            jsonl({**item("c"), "sepal_width": True}).strip(),
            jsonl({k: v for k, v in item("d").items() if k != "petal_length"}).strip(),
            jsonl({**item("e"), "colour": "blue"}).strip(),
            jsonl({k: v for k, v in item("x").items() if k != "id"}).strip(),
        ]
    )
    landed = landing_records.parse_landing_file(entry("a.jsonl"), data)
    problems = dict(zip(landed["line"], landed["problem"], strict=True))
    assert landed["id"].to_list()[:2] == ["a", "7"]
    assert problems[1] is None and problems[2] is None
    assert 3 not in problems  # blank lines are not records
    assert problems[4].startswith("not valid JSON")
    assert "expected a JSON object" in problems[5]
    assert problems[6] == "petal_width='0.2' is not a number"
    assert problems[7] == "sepal_width=True is not a number"
    assert problems[8] == "petal_length is missing"
    assert "unexpected field(s) ['colour']" in problems[9]
    assert problems[10] == "id is missing"
    assert landed.filter(pl.col("line") == 2)["sepal_length"].item() == 6.0


def test_csv_records_parse_any_column_order_and_bad_rows_are_named():
    data = (
        "\ufeffpetal_width,id,sepal_length,sepal_width,petal_length\n"
        "0.2,a,5.1,3.5,1.4\n"
        "0.2,,5.1,3.5,1.4\n"
        "0.2,b,five,3.5,1.4\n"
        "0.2,c,5.1\n"
        "1.8,d,inf,3.0,5.5\n"
    ).encode()
    landed = landing_records.parse_landing_file(entry("b.csv"), data)
    by_line = {row["line"]: row for row in landed.iter_rows(named=True)}
    assert by_line[2]["id"] == "a" and by_line[2]["petal_width"] == 0.2 and by_line[2]["problem"] is None
    assert by_line[3]["problem"] == "id is empty"
    assert by_line[4]["problem"] == "sepal_length='five' is not a number"
    assert by_line[5]["problem"] == "expected 5 values, got 3"
    assert math.isinf(by_line[6]["sepal_length"])  # parsed; validation rejects it


def test_unreadable_files_become_one_file_level_row():
    wrong_header = landing_records.parse_landing_file(entry("c.csv"), b"id,a,b,c,d\n1,2,3,4,5\n")
    not_utf8 = landing_records.parse_landing_file(entry("d.jsonl"), b"\xff\xfe\x00")
    bad_name = landing_records.parse_landing_file(entry("bad name.jsonl"), b"")
    for frame, reason in [(wrong_header, "CSV header"), (not_utf8, "not UTF-8"), (bad_name, "is not allowed")]:
        assert frame.height == 1 and frame["line"].item() == t.FILE_LEVEL_LINE
        assert reason in frame["problem"].item()


def test_validate_rejects_non_finite_and_duplicate_ids_and_keeps_every_row_once():
    first = landing_records.parse_landing_file(entry("a.jsonl"), jsonl(item("a"), item("b"), item("dup")))
    second = landing_records.parse_landing_file(
        entry("b.csv", "v2"), b"id,sepal_length,sepal_width,petal_length,petal_width\ndup,1,2,3,4\nn,nan,1,1,1\n"
    )
    landed = pl.concat([first, second])
    valid, rejects = t.validate(landed)
    assert sorted(valid["id"]) == ["a", "b"]
    reasons = dict(zip(rejects["source_file"] + ":" + rejects["line"].cast(str), rejects["reason"], strict=True))
    assert reasons["a.jsonl:3"] == reasons["b.csv:2"] == "duplicate id 'dup' (2 records in this date)"
    assert reasons["b.csv:3"] == "sepal_length=NaN is not finite"
    assert valid.height + rejects.height == landed.height


def test_prediction_frame_labels_by_highest_probability_and_records_the_model():
    valid, _ = t.validate(landing_records.parse_landing_file(entry("a.jsonl"), jsonl(item("a"), item("b"))))
    probabilities = np.array([[0.1, 0.7, 0.2], [0.05, 0.15, 0.8]], dtype=np.float32)
    at = datetime(2024, 2, 3, 12, tzinfo=UTC)
    frame = t.prediction_frame(
        valid, probabilities, day=date(2024, 2, 3), model_version="m1", model_checksum="c" * 64, predicted_at=at
    )
    assert frame["predicted_label"].to_list() == ["versicolor", "virginica"]
    assert frame["probability_virginica"].to_list() == pytest.approx([0.2, 0.8])
    assert set(frame["model_version"]) == {"m1"} and frame["predicted_at"][0] == at
    assert frame["date"].unique().to_list() == [date(2024, 2, 3)]
    with pytest.raises(ValueError, match="shape"):
        t.prediction_frame(
            valid, probabilities[:1], day=date(2024, 2, 3), model_version="m", model_checksum="c", predicted_at=at
        )


def test_unaccounted_finds_records_missing_from_both_outputs_or_from_an_older_file_version():
    landed = landing_records.parse_landing_file(entry("a.jsonl", "v2"), jsonl(item("a"), item("b"), item("c")))
    valid, rejects = t.validate(landed)
    stored = valid.filter(pl.col("id") == "a")
    older = valid.filter(pl.col("id") == "b").with_columns(source_version=pl.lit("v1"))
    missing = t.unaccounted(landed, pl.concat([stored, older]), rejects)
    assert sorted(missing["id"]) == ["b", "c"]
    assert t.unaccounted(landed, valid, rejects).is_empty()
