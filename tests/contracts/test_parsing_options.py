"""Registry parsing options, end to end through the raw asset: a file as a portal writes it, the
declaration that describes it, and the typed partitions ODF stores."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from odf.definitions import build_definitions
from odf_assets.sources.registry import RegistryError, load_registry_file
from tests.support.pipeline import failure_messages, read_partition, run_assets, write_registry

RAW = "raw/portal"


def declare(tmp_path, monkeypatch, body: bytes, **keys) -> None:
    (tmp_path / "portal.csv").write_bytes(body)
    source = {
        "name": "portal",
        "description": "A portal export.",
        "license": "CC0-1.0",
        "owner": "ODF tests",
        "url": "portal.csv",
        "date_column": "stamp",
        "format": "csv",
        "start_date": "2024-03-30",
        "schema": {"id": "string", "stamp": "datetime", "amount": "float64"},
        **keys,
    }
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [source])))


def test_latin1_semicolons_decimal_commas_and_a_local_time_zone(tmp_path, monkeypatch):
    body = "id;stamp;amount\r\nCafé-1;30/03/2024 23:30;1.234,50\r\nCafé-2;31/03/2024 03:15;-\r\n".encode("latin-1")
    declare(
        tmp_path,
        monkeypatch,
        body,
        csv={"delimiter": ";", "encoding": "latin1", "decimal_comma": True, "null_values": ["-"]},
        formats={"stamp": "%d/%m/%Y %H:%M"},
        timezone="Europe/Paris",
    )
    assert run_assets(build_definitions(), [RAW], partition_range=("2024-03-30", "2024-03-31")).success
    first = read_partition(tmp_path / "storage", RAW, "2024-03-30")
    second = read_partition(tmp_path / "storage", RAW, "2024-03-31")
    assert first["id"].to_list() == ["Café-1"] and first["amount"].to_list() == [1234.5]
    assert first.schema["stamp"] == pl.Datetime("us", "UTC")
    # 23:30 in Paris (UTC+1) is 22:30 UTC; 03:15 on the DST morning (UTC+2) is 01:15 UTC.
    assert first["stamp"].to_list() == [datetime(2024, 3, 30, 22, 30, tzinfo=UTC)]
    assert second["stamp"].to_list() == [datetime(2024, 3, 31, 1, 15, tzinfo=UTC)]
    assert second["amount"].to_list() == [None]


def test_offsets_and_z_keep_their_instant_and_the_day_follows_the_source_zone(tmp_path, monkeypatch):
    body = b"id,stamp,amount\na,2024-03-30T23:30:00+01:00,1\nb,2024-03-30T23:30:00Z,2\nc,2024-03-31 00:10:00,3\n"
    declare(tmp_path, monkeypatch, body, timezone="Europe/Paris")
    assert run_assets(build_definitions(), [RAW], partition_range=("2024-03-30", "2024-03-31")).success
    first = read_partition(tmp_path / "storage", RAW, "2024-03-30")
    second = read_partition(tmp_path / "storage", RAW, "2024-03-31")
    # a is 22:30 UTC = 23:30 Paris (30th); b is 23:30 UTC = 00:30 Paris (31st); c is naive Paris time.
    assert first["id"].to_list() == ["a"]
    assert second["id"].to_list() == ["b", "c"]
    assert second["stamp"].to_list() == [
        datetime(2024, 3, 30, 23, 30, tzinfo=UTC),
        datetime(2024, 3, 30, 23, 10, tzinfo=UTC),
    ]


def test_a_time_that_does_not_exist_in_the_zone_is_quarantined_naming_the_zone(tmp_path, monkeypatch):
    body = b"id,stamp,amount\na,2024-03-31 01:00,1\nb,2024-03-31 02:30,2\n"
    declare(tmp_path, monkeypatch, body, timezone="Europe/Paris")
    result = run_assets(build_definitions(), [RAW], partition_key="2024-03-31")
    # The default ("raise") guesses nothing: the row's day is unknown, so it is kept aside.
    assert result.success, failure_messages(result)
    [quarantined] = (tmp_path / "storage" / "quarantine" / "portal").glob("*.parquet")
    assert pl.read_parquet(quarantined).select("source_line", "reason").rows() == [
        (3, "date_column 'stamp': '2024-03-31 02:30' is not a valid datetime in time zone Europe/Paris")
    ]
    assert read_partition(tmp_path / "storage", RAW, "2024-03-31")["id"].to_list() == ["a"]


def test_dst_gaps_and_overlaps_follow_the_declared_choice(tmp_path, monkeypatch):
    body = b"id,stamp,amount\ngap,2024-03-31 02:30,1\noverlap,2024-10-27 02:30,2\n"
    declare(
        tmp_path,
        monkeypatch,
        body,
        timezone="Europe/Paris",
        start_date="2024-03-31",
        nonexistent_times="shift_forward",
        ambiguous_times="latest",
    )
    result = run_assets(build_definitions(), [RAW], partition_key="2024-03-31")
    assert result.success, failure_messages(result)
    # shift_forward: the first time after the gap, 03:00 Paris (UTC+2).
    assert read_partition(tmp_path / "storage", RAW, "2024-03-31")["stamp"].to_list() == [
        datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
    ]
    assert run_assets(build_definitions(), [RAW], partition_key="2024-10-27").success
    # latest: the second 02:30, after clocks went back (UTC+1).
    assert read_partition(tmp_path / "storage", RAW, "2024-10-27")["stamp"].to_list() == [
        datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    ]


def test_a_literal_z_in_formats_is_utc_whatever_the_timezone(tmp_path, monkeypatch):
    # New York skips 02:00..03:00 local on 2013-03-10; 02:00Z is a real instant (21:00 the day before there).
    body = b"id,stamp,amount\na,2013-03-10T02:00:00Z,1\nb,2013-03-10T12:00:00Z,2\n"
    declare(
        tmp_path,
        monkeypatch,
        body,
        start_date="2013-03-09",
        formats={"stamp": "%Y-%m-%dT%H:%M:%SZ"},
        timezone="America/New_York",
    )
    result = run_assets(build_definitions(), [RAW], partition_range=("2013-03-09", "2013-03-10"))
    assert result.success, failure_messages(result)
    assert read_partition(tmp_path / "storage", RAW, "2013-03-09")["stamp"].to_list() == [
        datetime(2013, 3, 10, 2, 0, tzinfo=UTC)
    ]
    assert read_partition(tmp_path / "storage", RAW, "2013-03-10")["id"].to_list() == ["b"]


def test_a_latin1_file_declared_as_utf8_names_the_encoding_setting(tmp_path, monkeypatch):
    declare(tmp_path, monkeypatch, "id,stamp,amount\nCafé,2024-03-30 10:00,1\n".encode("latin-1"))
    result = run_assets(build_definitions(), [RAW], partition_key="2024-03-30")
    assert not result.success
    assert "csv.encoding: latin1" in failure_messages(result)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"csv": {"encoding": "cp1252"}}, "portal).csv.encoding: unknown encoding 'cp1252'"),
        ({"csv": {"delimiter": ";;"}}, "portal).csv.delimiter: expected one character"),
        ({"csv": {"decimal_comma": True}}, "portal).csv.decimal_comma: needs a delimiter other than ','"),
        ({"formats": {"amount": "%Y"}}, "portal).formats.amount: formats apply to date and datetime schema columns"),
        ({"formats": {"stamp": "YYYY-MM-DD"}}, "portal).formats.stamp: expected a strptime format"),
        ({"timezone": "Mars/Olympus"}, "portal).timezone: unknown time zone 'Mars/Olympus'"),
        ({"ambiguous_times": "first"}, "portal).ambiguous_times: expected one of ['raise', 'earliest', 'latest']"),
        ({"nonexistent_times": "null"}, "portal).nonexistent_times: expected one of ['raise', 'shift_forward']"),
    ],
)
def test_bad_parsing_options_fail_at_load_time_naming_the_key(tmp_path, monkeypatch, keys, message):
    declare(tmp_path, monkeypatch, b"id,stamp,amount\n", **keys)
    with pytest.raises(RegistryError, match="extra_sources.yaml") as error:
        load_registry_file(tmp_path / "extra_sources.yaml")
    assert message in str(error.value)
