"""Asset-check measures: the key-uniqueness count stays exact when keys are counted in slices."""

import polars as pl
import pytest

from odf_assets import checks, quality


@pytest.fixture
def sales_with_repeats(tmp_path):
    # 10,000 rows: every 37th repeats an earlier (store, invoice), and a few keys are null.
    invoices = [f"INV-{i // 37 * 37 if i % 37 == 5 else i:06d}" for i in range(10_000)]
    frame = pl.DataFrame({"store": [i % 7 for i in range(10_000)], "invoice": invoices}).with_columns(
        pl.when(pl.int_range(pl.len()) % 997 == 3).then(None).otherwise(pl.col("invoice")).alias("invoice")
    )
    path = tmp_path / "sales.parquet"
    frame.write_parquet(path)
    return frame, pl.scan_parquet(path)


def test_counting_keys_in_slices_gives_the_single_pass_count(sales_with_repeats, monkeypatch):
    frame, scan = sales_with_repeats
    expected = frame.select(pl.struct("store", "invoice").n_unique()).item()
    assert expected < frame.height, "the fixture must contain repeated keys"
    monkeypatch.setattr(quality, "KEYS_PER_PASS", 700)  # 15 slices
    assert quality.distinct_keys_in_passes(scan, ["store", "invoice"], frame.height) == expected
    assert quality.distinct_keys_in_passes(frame, ["invoice"], frame.height) == frame["invoice"].n_unique()


def test_unique_keys_are_counted_from_their_hashes_in_slices(sales_with_repeats, monkeypatch):
    frame, _ = sales_with_repeats
    unique = frame.unique(subset=["store", "invoice"], keep="first")
    monkeypatch.setattr(quality, "HASHES_PER_PASS", 700)  # 14 slices of hashes
    assert quality.distinct_keys_in_passes(unique.lazy(), ["store", "invoice"], unique.height) == unique.height
    # One repeated key among unique ones: the hashes show a repeat, the keys give the exact count.
    repeated = pl.concat([unique, unique.head(1)])
    assert quality.distinct_keys_in_passes(repeated, ["store", "invoice"], repeated.height) == unique.height


def key_check(frame) -> dict:
    """The key check's verdict for the fixture's rows as one day (they carry no date column)."""
    one_day = frame.lazy().with_columns(pl.lit("2024-01-01").alias("date"))
    verdicts = checks.verdicts_by_day(one_day, "date", ["2024-01-01"], checks.Contract(key=("store", "invoice")))
    result = next(v for v in verdicts["2024-01-01"] if v.check == checks.KEY_IS_UNIQUE)
    return {"passed": result.passed, "duplicate_rows": result.metadata["duplicate_rows"]}


def test_key_check_reports_the_same_duplicates_past_the_slice_threshold(sales_with_repeats, monkeypatch):
    frame, scan = sales_with_repeats
    in_one_pass = key_check(scan)
    monkeypatch.setattr(quality, "KEYS_PER_PASS", 1_000)
    assert key_check(scan) == key_check(frame) == in_one_pass
    assert (
        in_one_pass["passed"] is False
        and in_one_pass["duplicate_rows"]
        == frame.height - frame.select(pl.struct("store", "invoice").n_unique()).item()
    )
    unique = frame.unique(subset=["store", "invoice"], keep="first", maintain_order=True)
    assert key_check(unique) == {"passed": True, "duplicate_rows": 0}
