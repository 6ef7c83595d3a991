"""``odf submit``: the real command in a subprocess, against a temp directory and the loopback S3
server; what it lands is what the landing parser and the predictions asset read."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from odf_assets.predictions import landing_keys, landing_records, transforms
from tests.predictions.helpers import item, jsonl, land, materialize_model, materialize_predictions

DAY = "2024-05-01"
ODF = str(Path(sys.executable).parent / "odf")


def odf(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ODF, *args], input=stdin, capture_output=True, timeout=120)


def landed(storage, day: str = DAY) -> dict[str, list[str]]:
    """Ids per landed file name, read with the landing parser; every record must be valid."""
    files = {}
    records = []
    for entry in (
        landing_keys.classify_landing_key(o.key, o.version, o.size) for o in storage.list(landing_keys.date_prefix(day))
    ):
        frame = landing_records.parse_landing_stream(entry, io.BytesIO(storage.read_bytes(entry.key)))
        records.append(frame)
        files[entry.name] = frame["id"].to_list()
    if records:
        import polars as pl

        _, rejects = transforms.validate(pl.concat(records))
        assert rejects.is_empty(), rejects["reason"].to_list()
    return files


def test_a_file_lands_as_one_object_with_its_key_and_count(storage, storage_uri, tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(jsonl(item("a1"), item("a2", petal_length=4.7), item(3)))
    done = odf("submit", "--date", DAY, str(batch))
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    ((name, ids),) = landed(storage).items()
    assert sorted(ids) == ["3", "a1", "a2"]
    assert f"landed 3 item(s) for {DAY} as landing/iris/date={DAY}/{name}" in out
    assert storage.uri_for(f"landing/iris/date={DAY}/{name}") in out


def test_csv_from_standard_input(storage):
    body = b"id,sepal_length,sepal_width,petal_length,petal_width\nc1,5.1,3.5,1.4,0.2\nc2,6.3,3.3,6.0,2.5\n"
    done = odf("submit", "--date", DAY, "--format", "csv", "-", stdin=body)
    assert done.returncode == 0, done.stderr.decode()
    assert sorted(next(iter(landed(storage).values()))) == ["c1", "c2"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            jsonl(
                item("x"), {"id": "y", "sepal_length": "5.1", "sepal_width": 3, "petal_length": 1, "petal_width": 0.2}
            ),
            "line 2: sepal_length='5.1' is not a number",
        ),
        (jsonl(item("x"), item("x")), "duplicate id 'x'"),
        (jsonl({"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1}), "line 1: id is missing"),
        (
            jsonl(item("x"), {"id": "z", "sepal_length": 1, "sepal_width": 1, "petal_length": 1}),
            "line 2: petal_width is missing",
        ),
        (b"{not json\n", "line 1: not valid JSON"),
        (b"", "no records in the input"),
    ],
    ids=["type", "duplicate", "no-id", "missing-feature", "json", "empty"],
)
def test_invalid_records_are_refused_before_anything_lands(storage, tmp_path, body, expected):
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(body)
    done = odf("submit", "--date", DAY, str(batch))
    assert done.returncode == 2
    assert expected in done.stderr.decode()
    assert "nothing landed" in done.stderr.decode()
    assert storage.list("landing") == []


def test_bad_date_and_unreadable_file_exit_2(tmp_path):
    assert "--date '2024-13-01' is not a date" in odf("submit", "--date", "2024-13-01", "-", stdin=b"").stderr.decode()
    done = odf("submit", "--date", DAY, str(tmp_path / "missing.jsonl"))
    assert done.returncode == 2 and "cannot read" in done.stderr.decode()


def test_landed_ids_are_refused_unless_replace_which_swaps_only_those_records(storage, tmp_path):
    # A client dropped a file by hand earlier: k1 and k2; then one submission lands k3.
    land(storage, DAY, "client.jsonl", jsonl(item("k1"), item("k2")))
    first = tmp_path / "first.jsonl"
    first.write_bytes(jsonl(item("k3")))
    assert odf("submit", "--date", DAY, str(first)).returncode == 0

    again = tmp_path / "again.jsonl"
    again.write_bytes(jsonl(item("k2", petal_length=5.9), item("k3", petal_length=6.1), item("k4")))
    refused = odf("submit", "--date", DAY, str(again))
    assert refused.returncode == 2
    assert (
        "2 id(s) already landed for 2024-05-01" in refused.stderr.decode() and "['k2', 'k3']" in refused.stderr.decode()
    )
    assert sorted(i for ids in landed(storage).values() for i in ids) == ["k1", "k2", "k3"]

    replaced = odf("submit", "--date", DAY, "--replace", str(again))
    assert replaced.returncode == 0, replaced.stderr.decode()
    assert "(replaced 2 earlier record(s))" in replaced.stdout.decode()
    files = landed(storage)
    assert files["client.jsonl"] == ["k1"]  # rewritten without k2; the first submission (k3 only) is gone
    assert len(files) == 2
    assert sorted(i for ids in files.values() for i in ids) == ["k1", "k2", "k3", "k4"]
    # The replacing values are the ones landed.
    new = next(name for name in files if name != "client.jsonl")
    records = [json.loads(line) for line in storage.read_bytes(f"landing/iris/date={DAY}/{new}").splitlines()]
    assert {r["id"]: r["petal_length"] for r in records} == {"k2": 5.9, "k3": 6.1, "k4": 1.4}


def test_submitted_items_are_scored_by_the_predictions_asset(storage, storage_uri, tmp_path):
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(jsonl(*(item(f"s{i}", petal_length=1.4 + i / 10) for i in range(20))))
    assert odf("submit", "--date", DAY, str(batch)).returncode == 0
    materialize_model(storage_uri)
    result = materialize_predictions(storage_uri, DAY)
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["predictions", "iris_predictions"])
    ]
    assert event.materialization.metadata["predicted"].value == 20
    assert event.materialization.metadata["rejected"].value == 0


def test_odf_help_and_submit_help_do_not_import_dagster():
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "odf_cli.main", "submit", "--help"], capture_output=True, timeout=60
    )
    assert done.returncode == 0
    assert b"dagster" not in done.stderr and b"polars" not in done.stderr
