"""Bad data never replaces good data: each fault keeps the previous partition byte for byte.

Every case first stores a good version of the day, then serves a bad one and checks that the run
fails naming the day, the check and the evidence, and that the stored object's sha256 is unchanged.
Whole-file sources isolate their days: a bad cell fails only its own day.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pytest

from odf.definitions import build_definitions
from tests.support.pipeline import (
    failure_messages,
    run_assets,
    shop_source,
    whole_file_shop_registry,
    write_registry,
)

RAW = "raw/shop_sales"
GOOD_DAY = "receipt,amount\r\nr1,1.0\r\nr2,2.5\r\n"


def per_day_registry(tmp_path: Path, url: str) -> Path:
    return write_registry(
        tmp_path,
        [
            shop_source(
                url_template=url,
                format="csv",
                start_date="2024-02-01",
                key=["receipt"],
                schema={"receipt": "string", "amount": "float64"},
            )
        ],
    )


def whole_file_registry(tmp_path: Path, url: str) -> Path:
    return whole_file_shop_registry(tmp_path, url, formats={"sold_on": "%d/%m/%Y"}, csv={"null_values": ["NA"]})


def digest(storage: Path, day: str) -> str | None:
    path = storage / RAW / f"date={day}" / "data.parquet"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


BAD_DAYS = {
    "header only": ("receipt,amount\r\n", "non_empty_partition: no rows for this day"),
    "short rows": ("receipt,amount\r\nr1,1.0\r\nr2\r\n", "rows_conform: .*line 3 has 1 field\\(s\\), the header has 2"),
    "duplicate keys": (
        "receipt,amount\r\nr1,1.0\r\nr1,3.0\r\n",
        "key_is_unique: 1 row\\(s\\) repeat a \\(receipt\\) key",
    ),
    "duplicate header": (
        "receipt,amount,amount\r\nr1,1.0,2.0\r\n",
        "schema_matches_registry: .*'amount' more than once",
    ),
    "bad value": (
        "receipt,amount\r\nr1,1.0\r\nr2,lots\r\n",
        "rows_conform: .*line 3, column 'amount': 'lots' is not a valid float64",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DAYS))
def test_a_bad_day_keeps_the_previous_partition_byte_for_byte(case, source_server, tmp_path, monkeypatch):
    import re

    monkeypatch.setenv("ODF_SOURCES", str(per_day_registry(tmp_path, f"{source_server.url}/{{date}}.csv")))
    storage = tmp_path / "storage"
    (source_server.root / "2024-02-01.csv").write_text(GOOD_DAY, newline="")
    defs = build_definitions()
    assert run_assets(defs, [RAW], partition_key="2024-02-01").success
    before = digest(storage, "2024-02-01")
    body, evidence = BAD_DAYS[case]
    (source_server.root / "2024-02-01.csv").write_text(body, newline="")
    result = run_assets(defs, [RAW], partition_key="2024-02-01")
    assert not result.success
    message = failure_messages(result)
    assert "2024-02-01" in message and re.search(evidence, message), message
    assert digest(storage, "2024-02-01") == before


def test_an_empty_day_inside_a_range_is_not_stored_and_the_others_are(source_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ODF_SOURCES", str(per_day_registry(tmp_path, f"{source_server.url}/{{date}}.csv")))
    storage = tmp_path / "storage"
    for day in ("2024-02-01", "2024-02-02", "2024-02-03"):
        (source_server.root / f"{day}.csv").write_text(GOOD_DAY, newline="")
    defs = build_definitions()
    assert run_assets(defs, [RAW], partition_range=("2024-02-01", "2024-02-03")).success
    before = {day: digest(storage, day) for day in ("2024-02-01", "2024-02-02", "2024-02-03")}
    (source_server.root / "2024-02-02.csv").write_text("receipt,amount\r\n", newline="")
    (source_server.root / "2024-02-03.csv").write_text("receipt,amount\r\nr9,9.0\r\n", newline="")
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(defs, [RAW], partition_range=("2024-02-01", "2024-02-03"), instance=instance)
    assert not result.success
    assert "2024-02-02: non_empty_partition: no rows for this day" in failure_messages(result)
    assert digest(storage, "2024-02-02") == before["2024-02-02"], "the empty day kept its previous object"
    assert digest(storage, "2024-02-03") != before["2024-02-03"], "the good day in the same range was published"
    materialized = instance.get_materialized_partitions(dg.AssetKey.from_user_string(RAW))
    assert materialized == {"2024-02-01", "2024-02-03"}
    # One evaluation per check per day, each with its partition, naming the part that failed.
    check = dg.AssetCheckKey(dg.AssetKey.from_user_string(RAW), "data_contract")
    records = instance.event_log_storage.get_asset_check_execution_history(check, limit=10)
    verdicts = {(r.partition, r.evaluation.passed, tuple(r.evaluation.metadata["failed_parts"].value)) for r in records}
    assert verdicts == {
        ("2024-02-01", True, ()),
        ("2024-02-02", False, ("non_empty_partition",)),
        ("2024-02-03", True, ()),
    }


def test_one_bad_cell_in_a_whole_file_source_fails_only_its_day(source_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ODF_SOURCES", str(whole_file_registry(tmp_path, f"{source_server.url}/all.csv")))
    storage = tmp_path / "storage"
    good = "receipt,sold_on,amount\r\nr1,01/02/2024,1.0\r\nr2,02/02/2024,NA\r\nr3,03/02/2024,3.0\r\n"
    (source_server.root / "all.csv").write_text(good, newline="")
    defs = build_definitions()
    assert run_assets(defs, [RAW], partition_range=("2024-02-01", "2024-02-03")).success
    before = {day: digest(storage, day) for day in ("2024-02-01", "2024-02-02", "2024-02-03")}
    # A quoted field spanning two lines before the bad cell: the error must give the file's line.
    bad = (
        'receipt,sold_on,amount\r\n"r1\r\nx",01/02/2024,1.0\r\nr2,02/02/2024,'
        + "9" * 500
        + "x\r\nr3,03/02/2024,4.0\r\n"
    )
    (source_server.root / "all.csv").write_text(bad, newline="")
    result = run_assets(defs, [RAW], partition_range=("2024-02-01", "2024-02-03"))
    assert not result.success
    message = failure_messages(result)
    assert "2024-02-02: rows_conform" in message and "line 4, column 'amount'" in message, message
    assert "2024-02-01:" not in message and "2024-02-03:" not in message, "only the bad day is named"
    assert "(501 characters)" in message and "9" * 300 not in message, "the quoted value is capped"
    assert digest(storage, "2024-02-02") == before["2024-02-02"]
    assert (
        digest(storage, "2024-02-01") != before["2024-02-01"] and digest(storage, "2024-02-03") != before["2024-02-03"]
    )


def test_an_unchanged_partition_is_not_rewritten(source_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ODF_SOURCES", str(per_day_registry(tmp_path, f"{source_server.url}/{{date}}.csv")))
    (source_server.root / "2024-02-01.csv").write_text(GOOD_DAY, newline="")
    stored = tmp_path / "storage" / RAW / "date=2024-02-01" / "data.parquet"
    defs = build_definitions()
    flags = []
    for _ in range(2):
        result = run_assets(defs, [RAW], partition_key="2024-02-01")
        [event] = result.get_asset_materialization_events()
        flags.append(event.materialization.metadata["unchanged_bytes"].value)
        if len(flags) == 1:
            first = stored.stat()
    assert flags == [False, True]
    assert (stored.stat().st_ino, stored.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
