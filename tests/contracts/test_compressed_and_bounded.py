"""Compressed sources are detected by content and bounded after decompression; source bombs
(decompression, columns, line length) are refused with a clear error and keep the stored day."""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import polars as pl
import zstandard

from odf.definitions import build_definitions
from tests.support.pipeline import failure_messages, read_partition, run_assets, shop_source, write_registry

RAW = "raw/shop_sales"
DAYS = ("2024-02-01", "2024-02-02", "2024-02-03")


def declare(tmp_path: Path, monkeypatch, **fields) -> None:
    source = shop_source(
        url_template="{date}.csv",
        format="csv",
        start_date="2024-02-01",
        schema={"receipt": "string", "amount": "float64"},
        **fields,
    )
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [source])))


def day_body(day: str) -> bytes:
    return f"receipt,amount\r\n{day}-a,1.5\r\n{day}-b,2.5\r\n".encode()


def zipped(body: bytes, members: int = 1) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(members):
            archive.writestr(f"part{index}.csv", body)
    return buffer.getvalue()


def test_gzip_zstd_and_zip_are_read_by_content_whatever_the_name(tmp_path, monkeypatch):
    declare(tmp_path, monkeypatch)
    compress = [gzip.compress, zstandard.ZstdCompressor().compress, zipped]
    for day, packer in zip(DAYS, compress, strict=True):
        (tmp_path / f"{day}.csv").write_bytes(packer(day_body(day)))
    result = run_assets(build_definitions(), [RAW], partition_range=(DAYS[0], DAYS[-1]))
    assert result.success, failure_messages(result)
    for day in DAYS:
        stored = read_partition(tmp_path / "storage", RAW, day)
        assert stored["receipt"].to_list() == [f"{day}-a", f"{day}-b"] and stored["amount"].sum() == 4.0


def stored_digest(tmp_path: Path) -> str:
    return hashlib.sha256((tmp_path / "storage" / RAW / f"date={DAYS[0]}" / "data.parquet").read_bytes()).hexdigest()


def gzip_bomb() -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1) as bomb:
        bomb.write(b"receipt,amount\r\n")
        row = b"r,1.0\r\n" * (1 << 17)
        for _ in range(80):  # 70 MiB of rows from ~100 KiB: far past 100x
            bomb.write(row)
    return buffer.getvalue()


def test_source_bombs_are_refused_and_keep_the_stored_day(tmp_path, monkeypatch):
    declare(tmp_path, monkeypatch)
    (tmp_path / f"{DAYS[0]}.csv").write_bytes(day_body(DAYS[0]))
    defs = build_definitions()
    assert run_assets(defs, [RAW], partition_key=DAYS[0]).success
    before = stored_digest(tmp_path)
    bombs = {
        "gzip bomb": (gzip_bomb(), "gzip content expands more than 100 times"),
        "two zip members": (
            zipped(day_body(DAYS[0]), members=2),
            "a zip source must hold exactly one file, this one holds 2",
        ),
        "long line": (
            b"receipt,amount\r\nr1," + b"9" * (17 << 20) + b"\r\n",
            "line 2 is longer than 16777216 bytes (the line length limit); refused",
        ),
        # A quoted field spanning 17 MiB of short lines: no line is long, the field is.
        "long field": (
            b'receipt,amount\r\nr1,1.0\r\n"' + b"x" * 99 + (b"\n" + b"x" * 99) * (170 << 10) + b'",1.0\r\n',
            "line 3, field 1 (column 'receipt') is longer than 16777216 bytes (the field length limit, "
            "max_field_bytes; a quoted field counts across its line breaks); refused",
        ),
        "wide header": (
            (",".join(f"c{i}" for i in range(10_001)) + "\r\n").encode(),
            "the header has 10001 columns, more than the limit of 10000; refused",
        ),
    }
    for case, (body, reason) in bombs.items():
        (tmp_path / f"{DAYS[0]}.csv").write_bytes(body)
        result = run_assets(defs, [RAW], partition_key=DAYS[0])
        message = failure_messages(result)
        assert not result.success and reason in message and "Traceback" not in message, (case, message)
        assert case != "gzip bomb" or "a decompression bomb; refused" in message
        assert stored_digest(tmp_path) == before, f"{case}: the stored day kept its bytes"


def test_aggregates_have_sql_counts_one_row_for_an_empty_day_and_int64(tmp_path, monkeypatch):
    from datetime import date

    from odf_assets.sources.transforms import aggregate

    raw = pl.DataFrame(
        {"date": [date(2024, 2, 1), date(2024, 2, 1)], "amount": [1.0, None]},
        schema={"date": pl.Date, "amount": pl.Float64},
    )
    metrics = [("count", None, "rows"), ("count", "amount", "amounts"), ("sum", "amount", "total")]
    result = aggregate(raw, [], metrics, [date(2024, 2, 1), date(2024, 2, 2)]).collect()
    assert result.rows() == [(date(2024, 2, 1), 2, 1, 1.0), (date(2024, 2, 2), 0, 0, None)]
    assert result.schema["rows"] == pl.Int64 and result.schema["amounts"] == pl.Int64


def reference_long_field(data: bytes, limit: int) -> tuple[int, int] | None:
    """Byte by byte: where the first field longer than ``limit`` starts (line, field number)."""
    line, field, start, quoted, field_line = 1, 1, 0, False, 1
    for position, byte in enumerate(data):
        quoted ^= byte == ord('"')
        if not quoted and byte in b",\n":
            if position - start > limit:
                return field_line, field
            start, field = position + 1, 1 if byte == 10 else field + 1
            field_line = line + (byte == 10)
        line += byte == 10
    return (field_line, field) if len(data) - start > limit else None


def test_the_field_bound_counts_quoted_line_breaks_in_any_chunking(tmp_path):
    import random

    from odf_assets.sources.field_lengths import first_long_field

    generator = random.Random(20)
    path = tmp_path / "fields.csv"
    for _ in range(400):
        rows = []
        for _ in range(generator.randint(1, 6)):
            fields = []
            for _ in range(generator.randint(1, 4)):
                body = "".join(generator.choice(["a", "\n", '""', ","]) for _ in range(generator.randint(0, 12)))
                fields.append(f'"{body}"' if generator.random() < 0.4 else "x" * generator.randint(0, 12))
            rows.append(",".join(fields))
        data = ("\n".join(rows) + generator.choice(["", "\n"])).encode()
        path.write_bytes(data)
        limit = generator.randint(1, 15)
        expected = reference_long_field(data, limit)
        for chunk_size in (1, 3, 7, 1 << 20):
            assert first_long_field(path, ",", '"', limit, chunk_size) == expected, (data, limit, chunk_size)
