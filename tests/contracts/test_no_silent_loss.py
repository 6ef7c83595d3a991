"""No silent loss and true day isolation (issue 20): each fault keeps the stored days byte for
byte, checked by sha256, and says what it kept and why."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg

from odf.definitions import build_definitions
from tests.support.pipeline import (
    failure_messages,
    run_assets,
    shop_source,
    whole_file_shop_registry,
    write_registry,
)

RAW = "raw/shop_sales"
FAILURE = "dagster._core.definitions.events.Failure: "
DAYS = ("2024-02-01", "2024-02-02", "2024-02-03")
FULL = (
    "receipt,sold_on,amount\r\n"
    "r1,2024-02-01,1.0\r\nr2,2024-02-01,2.0\r\n"
    "r3,2024-02-02,3.0\r\nr4,2024-02-02,4.0\r\n"
    "r5,2024-02-03,5.0\r\nr6,2024-02-03,6.0\r\n"
)


def registry(tmp_path: Path, url: str, **checks) -> Path:
    return whole_file_shop_registry(tmp_path, url, checks={"allow_empty_days": True, **checks})


def digests(storage: Path) -> dict[str, str | None]:
    found = {}
    for day in DAYS:
        path = storage / RAW / f"date={day}" / "data.parquet"
        found[day] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    return found


def first_run(source_server, tmp_path, monkeypatch, **checks) -> tuple[dg.Definitions, dict]:
    monkeypatch.setenv("ODF_SOURCES", str(registry(tmp_path, f"{source_server.url}/all.csv", **checks)))
    (source_server.root / "all.csv").write_text(FULL, newline="")
    defs = build_definitions()
    assert run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1])).success
    return defs, digests(tmp_path / "storage")


def test_a_truncated_or_header_only_whole_file_keeps_the_stored_days_byte_for_byte(
    source_server, tmp_path, monkeypatch
):
    defs, before = first_run(source_server, tmp_path, monkeypatch)
    # The upstream file lost its last day: allow_empty_days must not turn that into an empty day.
    (source_server.root / "all.csv").write_text(FULL.rsplit("r5,", 1)[0], newline="")
    result = run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1]))
    assert not result.success, "losing a stored day is never a silent success"
    message = failure_messages(result)
    assert "2024-02-03: non_empty_partition: the fetched data has no rows for this day" in message, message
    assert f"kept the stored 2 row(s) byte for byte (sha256 {before['2024-02-03']})" in message, message
    assert "odf/replace_stored_days=true" in message
    assert digests(tmp_path / "storage") == before
    # A header-only copy would empty every day: all of them keep their bytes.
    (source_server.root / "all.csv").write_text("receipt,sold_on,amount\r\n", newline="")
    result = run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1]))
    assert not result.success
    message = failure_messages(result)
    assert all(f"{day}: non_empty_partition: the fetched data has no rows" in message for day in DAYS), message
    assert digests(tmp_path / "storage") == before


def test_a_shrink_beyond_the_declared_fraction_is_refused_and_the_operator_can_override(
    source_server, tmp_path, monkeypatch
):
    defs, before = first_run(source_server, tmp_path, monkeypatch, max_shrink_fraction=0.25)
    (source_server.root / "all.csv").write_text(FULL.replace("r2,2024-02-01,2.0\r\n", ""), newline="")
    result = run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1]))
    assert not result.success
    message = failure_messages(result)
    assert "2024-02-01: non_empty_partition: the fetched data has 1 row(s) for this day, the stored" in message
    assert "it would lose 50%, more than checks.max_shrink_fraction 0.25" in message, message
    assert digests(tmp_path / "storage") == before
    # The explicit operator action: one run tagged to replace the stored days.
    result = run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1]), tags={"odf/replace_stored_days": "true"})
    assert result.success, failure_messages(result)
    after = digests(tmp_path / "storage")
    assert after["2024-02-01"] != before["2024-02-01"] and after["2024-02-02"] == before["2024-02-02"]
    [event] = [e for e in result.get_asset_materialization_events() if e.partition == "2024-02-01"]
    assert event.materialization.metadata["replaced_stored_days"].value == {
        "2024-02-01": {"stored_rows": 2, "new_rows": 1}
    }


def test_a_long_row_fails_only_its_own_day(source_server, tmp_path, monkeypatch):
    defs, before = first_run(source_server, tmp_path, monkeypatch)
    # One field too many on 2024-02-02, whose date still reads: only that day fails.
    changed = FULL.replace("r3,2024-02-02,3.0\r\n", "r3,2024-02-02,3.5,extra\r\n").replace("5.0", "5.5")
    (source_server.root / "all.csv").write_text(changed, newline="")
    result = run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1]))
    assert not result.success
    message = failure_messages(result)
    assert "2024-02-02: rows_conform: " in message and "line 4 has 4 field(s), the header has 3" in message, message
    assert "2024-02-01:" not in message and "2024-02-03:" not in message, message
    after = digests(tmp_path / "storage")
    assert after["2024-02-02"] == before["2024-02-02"], "the failed day kept its stored bytes"
    assert after["2024-02-03"] != before["2024-02-03"], "the other days were published"


def undated_file() -> str:
    return FULL.replace("r6,2024-02-03,6.0\r\n", "r6,2024-02-03,6.5\r\nr7,someday,7.0\r\nr8,,8.0\r\n")


def test_undated_rows_are_quarantined_and_the_other_days_published(source_server, tmp_path, monkeypatch):
    import polars as pl

    defs, before = first_run(source_server, tmp_path, monkeypatch)
    (source_server.root / "all.csv").write_text(undated_file(), newline="")
    result = run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1]))
    assert result.success, failure_messages(result)
    after = digests(tmp_path / "storage")
    assert after["2024-02-03"] != before["2024-02-03"] and after["2024-02-01"] == before["2024-02-01"]
    [quarantined] = (tmp_path / "storage" / "quarantine" / "shop_sales").glob("*.parquet")
    rows = pl.read_parquet(quarantined).unnest("fields")
    assert rows.select("source_line", "reason", "receipt").rows() == [
        (8, "date_column 'sold_on': 'someday' is not a valid date", "r7"),
        (9, "no value in date_column 'sold_on'", "r8"),
    ]
    # Quarantined rows are detail of the rows_conform part of the passing data_contract check.
    check = dg.AssetCheckKey(dg.AssetKey.from_user_string(RAW), "data_contract")
    evaluations = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == check]
    assert {e.partition for e in evaluations} == set(DAYS) and all(e.passed for e in evaluations)
    assert all(e.metadata["rows_conform.quarantined_rows"].value == 2 for e in evaluations)


def test_strict_mode_fails_every_day_on_an_undated_row(source_server, tmp_path, monkeypatch):
    defs, before = first_run(source_server, tmp_path, monkeypatch, undated_rows="fail")
    (source_server.root / "all.csv").write_text(undated_file(), newline="")
    result = run_assets(defs, [RAW], partition_range=(DAYS[0], DAYS[-1]))
    assert not result.success
    message = failure_messages(result)
    assert all(f"{day}: rows_conform: " in message for day in DAYS), message
    assert "'someday' is not a valid date; the row's day is unknown" in message
    assert digests(tmp_path / "storage") == before


def test_fetch_failures_are_reported_as_fetch_failures(source_server, tmp_path, monkeypatch):
    per_day = shop_source(
        url_template=f"{source_server.url}/{{date}}.csv",
        format="csv",
        start_date="2024-02-01",
        schema={"receipt": "string", "amount": "float64"},
    )
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [per_day])))
    (source_server.root / "2024-02-01.csv").write_text("receipt,amount\r\nr1,1.0\r\n", newline="")
    instance = dg.DagsterInstance.ephemeral()
    result = run_assets(build_definitions(), [RAW], partition_range=("2024-02-01", "2024-02-02"), instance=instance)
    assert not result.success
    message = failure_messages(result)
    first_line = message.splitlines()[0].removeprefix(FAILURE)
    assert first_line.startswith("raw/shop_sales: fetch failed: http://127.0.0.1:"), message
    assert "2024-02-02.csv: HTTP 404, expected 200 (day(s) 2024-02-02)" in first_line, message
    assert "no rows" not in message and "schema_matches_registry" not in message, message
    # The day that was fetched is published and checked; the one that was not has no check results.
    check = dg.AssetCheckKey(dg.AssetKey.from_user_string(RAW), "data_contract")
    records = instance.event_log_storage.get_asset_check_execution_history(check, limit=10)
    evaluated = {r.partition for r in records if isinstance(r.evaluation, dg.AssetCheckEvaluation)}
    assert evaluated == {"2024-02-01"}
    assert (tmp_path / "storage" / RAW / "date=2024-02-01" / "data.parquet").exists()
    # A host the egress policy refuses: the refusal is the first line.
    monkeypatch.setenv("ODF_SOURCES", str(registry(tmp_path, "http://192.168.0.1/all.csv")))
    result = run_assets(build_definitions(), [RAW], partition_range=(DAYS[0], DAYS[-1]))
    first_line = failure_messages(result).splitlines()[0].removeprefix(FAILURE)
    assert first_line.startswith("raw/shop_sales: fetch failed: http://192.168.0.1/all.csv: "), first_line
    assert "192.168.0.1" in first_line and "no rows" not in failure_messages(result)
