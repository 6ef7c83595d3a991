"""Pure source transforms: schema conformance with precise errors, partition cut, aggregates."""

from datetime import date

import polars as pl
import pytest

from odf_assets.sources import transforms
from odf_assets.sources.transforms import ConformError

SCHEMA = {"id": "string", "day": "date", "amount": "float64", "units": "int64", "open": "bool"}


def text_frame(**columns):
    return pl.DataFrame({name: pl.Series(values, dtype=pl.String) for name, values in columns.items()})


def test_conform_types_text_columns():
    frame = text_frame(id=["a", "b"], day=["2024-01-02", "2024-01-03T10:00:00"], amount=["1.5", " 2 "], units=["3", ""], open=["yes", "False"], extra=["x", "y"])
    out = transforms.conform_to_schema(frame, SCHEMA, "shop", "partition 2024-01-02").collect()
    assert out.columns == list(SCHEMA)
    assert out.schema["day"] == pl.Date and out.schema["units"] == pl.Int64 and out.schema["open"] == pl.Boolean
    assert out["day"].to_list() == [date(2024, 1, 2), date(2024, 1, 3)]
    assert out["amount"].to_list() == [1.5, 2.0]
    assert out["units"].to_list() == [3, None]  # empty field is a null, not an error
    assert out["open"].to_list() == [True, False]


def test_conform_names_source_partition_column_row_and_value():
    frame = text_frame(id=["a", "b", "c"], day=["2024-01-02"] * 3, amount=["1", "2", "abc"], units=["1", "2", "3"], open=["y", "n", "y"])
    with pytest.raises(ConformError) as error:
        transforms.conform_to_schema(frame, SCHEMA, "shop", "partition 2024-01-02 (http://x/2024-01-02.csv)")
    message = str(error.value)
    for expected in ("shop", "partition 2024-01-02", "'amount'", "row 3", "'abc'", "float64"):
        assert expected in message


def test_conform_missing_column_lists_expected_and_found():
    frame = text_frame(id=["a"], day=["2024-01-02"], amount=["1"], open=["y"])
    with pytest.raises(ConformError, match=r"missing column\(s\) \['units'\]"):
        transforms.conform_to_schema(frame, SCHEMA, "shop", "partition 2024-01-02")


def test_conform_rejects_fractional_value_for_int_and_drifted_typed_columns():
    typed = pl.DataFrame({"id": ["a", "b"], "day": [date(2024, 1, 2)] * 2, "amount": [1.0, 2.0], "units": [1.0, 2.5], "open": [True, False]})
    with pytest.raises(ConformError, match=r"'units' row 2: 2.5 is not a valid int64"):
        transforms.conform_to_schema(typed, SCHEMA, "shop", "partition 2024-01-02")


def test_conform_validates_lazily_in_one_pass_over_a_scan(tmp_path):
    path = tmp_path / "big.csv"
    pl.DataFrame({"id": [str(i) for i in range(50_000)], "amount": ["1.5"] * 49_999 + ["oops"]}).write_csv(path)
    scan = pl.scan_csv(path, infer_schema=False)
    with pytest.raises(ConformError, match=r"'amount' row 50000: 'oops' is not a valid float64 \(1 bad value"):
        transforms.conform_to_schema(scan, {"id": "string", "amount": "float64"}, "shop", "p")


def test_conform_rejects_bad_dates_and_bools():
    frame = text_frame(id=["a"], day=["02/01/2024"], amount=["1"], units=["1"], open=["y"])
    with pytest.raises(ConformError, match="'day' row 1: '02/01/2024' is not a valid date"):
        transforms.conform_to_schema(frame, SCHEMA, "shop", "p")
    frame = text_frame(id=["a"], day=["2024-01-02"], amount=["1"], units=["1"], open=["maybe"])
    with pytest.raises(ConformError, match="'open' row 1: 'maybe' is not a valid bool"):
        transforms.conform_to_schema(frame, SCHEMA, "shop", "p")


def test_partition_date_from_column_or_file_day_and_window():
    frame = pl.DataFrame({"ts": pl.Series(["2024-01-01 23:00", "2024-01-02 01:00", "2024-01-03 00:00"]).str.to_datetime()})
    dated = transforms.with_partition_date(frame.lazy(), "ts", None)
    window = transforms.rows_in_window(dated, date(2024, 1, 2), date(2024, 1, 3)).collect()
    assert window["date"].to_list() == [date(2024, 1, 2)]
    per_day = transforms.with_partition_date(pl.LazyFrame({"x": [1, 2]}), None, date(2024, 5, 6)).collect()
    assert per_day["date"].to_list() == [date(2024, 5, 6)] * 2


def test_aggregate_groups_by_date_and_columns_with_every_metric():
    frame = pl.DataFrame({
        "date": [date(2024, 1, 1)] * 3 + [date(2024, 1, 2)],
        "shop": ["a", "a", "b", "a"],
        "amount": [1.0, 3.0, 5.0, 7.0],
        "client": ["x", "y", "x", "x"],
    })  # fmt: skip
    metrics = [("count", None, "rows"), ("sum", "amount", "total"), ("mean", "amount", "avg"), ("min", "amount", "low"),
               ("max", "amount", "high"), ("distinct_count", "client", "clients")]  # fmt: skip
    out = transforms.aggregate(frame, ["shop"], metrics).collect()
    assert out.rows() == [
        (date(2024, 1, 1), "a", 2, 4.0, 2.0, 1.0, 3.0, 2),
        (date(2024, 1, 1), "b", 1, 5.0, 5.0, 5.0, 5.0, 1),
        (date(2024, 1, 2), "a", 1, 7.0, 7.0, 7.0, 7.0, 1),
    ]
