"""Pure source transforms: schema conformance with precise errors, partition cut, aggregates."""

from datetime import date
from fractions import Fraction

import duckdb
import polars as pl
import pytest

from odf_assets.sources import transforms
from odf_assets.sources.transforms import ConformError

SCHEMA = {"id": "string", "day": "date", "amount": "float64", "units": "int64", "open": "bool"}


def text_frame(**columns):
    return pl.DataFrame({name: pl.Series(values, dtype=pl.String) for name, values in columns.items()})


def conformed(frame: pl.DataFrame | pl.LazyFrame, schema: dict[str, str] = SCHEMA) -> pl.DataFrame:
    """What acquisition stages: the registry's columns, typed, plus one flag column per field."""
    return transforms.with_conversion_flags(frame, schema, "shop", "partition 2024-01-02").collect(engine="streaming")


def bad_rows(out: pl.DataFrame, name: str) -> list[int]:
    """1-based rows whose ``name`` value was supplied and did not convert."""
    return [row for row, bad in enumerate(out[transforms.FLAG_PREFIX + name], start=1) if bad]


def test_conform_types_text_columns():
    frame = text_frame(
        id=["a", "b"],
        day=["2024-01-02", "2024-01-03T10:00:00"],
        amount=["1.5", " 2 "],
        units=["3", ""],
        open=["yes", "False"],
        extra=["x", "y"],
    )
    out = conformed(frame)
    assert out.columns[: len(SCHEMA)] == list(SCHEMA) and "extra" not in out.columns
    assert out.schema["day"] == pl.Date and out.schema["units"] == pl.Int64 and out.schema["open"] == pl.Boolean
    assert out["day"].to_list() == [date(2024, 1, 2), date(2024, 1, 3)]
    assert out["amount"].to_list() == [1.5, 2.0]
    assert out["units"].to_list() == [3, None]  # empty field is a null, not an error
    assert out["open"].to_list() == [True, False]
    assert not any(bad_rows(out, name) for name in transforms.flagged_columns(SCHEMA))


def test_conform_flags_exactly_the_values_that_do_not_convert():
    frame = text_frame(
        id=["a", "b", "c"],
        day=["2024-01-02"] * 3,
        amount=["1", "2", "abc"],
        units=["1", "2", "3"],
        open=["y", "n", "y"],
    )
    out = conformed(frame)
    assert bad_rows(out, "amount") == [3] and out["amount"].to_list() == [1.0, 2.0, None]
    assert not bad_rows(out, "units") and not bad_rows(out, "day")


def test_conform_missing_column_lists_expected_and_found():
    frame = text_frame(id=["a"], day=["2024-01-02"], amount=["1"], open=["y"])
    with pytest.raises(ConformError, match=r"shop partition 2024-01-02: missing column\(s\) \['units'\]"):
        conformed(frame)


def test_conform_flags_fractional_values_for_int_in_drifted_typed_columns():
    typed = pl.DataFrame(
        {
            "id": ["a", "b"],
            "day": [date(2024, 1, 2)] * 2,
            "amount": [1.0, 2.0],
            "units": [1.0, 2.5],
            "open": [True, False],
        }
    )
    out = conformed(typed)
    assert bad_rows(out, "units") == [2] and out["units"].to_list() == [1, None]


def test_conform_flags_a_late_bad_value_of_a_streamed_scan(tmp_path):
    path = tmp_path / "big.csv"
    pl.DataFrame({"id": [str(i) for i in range(50_000)], "amount": ["1.5"] * 49_999 + ["oops"]}).write_csv(path)
    out = conformed(pl.scan_csv(path, infer_schema=False), {"id": "string", "amount": "float64"})
    assert bad_rows(out, "amount") == [50_000]


def test_conform_flags_bad_dates_and_bools():
    frame = text_frame(
        id=["a", "b"], day=["02/01/2024", "2024-01-02"], amount=["1"] * 2, units=["1"] * 2, open=["y", "maybe"]
    )
    out = conformed(frame)
    assert bad_rows(out, "day") == [1] and bad_rows(out, "open") == [2]


def test_partition_date_from_column_or_file_day_and_window():
    frame = pl.DataFrame(
        {"ts": pl.Series(["2024-01-01 23:00", "2024-01-02 01:00", "2024-01-03 00:00"]).str.to_datetime()}
    )
    dated = transforms.with_partition_date(frame.lazy(), "ts", None)
    window = transforms.rows_in_window(dated, date(2024, 1, 2), date(2024, 1, 3)).collect()
    assert window["date"].to_list() == [date(2024, 1, 2)]
    per_day = transforms.with_partition_date(pl.LazyFrame({"x": [1, 2]}), None, date(2024, 5, 6)).collect()
    assert per_day["date"].to_list() == [date(2024, 5, 6)] * 2


def test_aggregate_groups_by_date_and_columns_with_every_metric():
    frame = pl.DataFrame(
        {
            "date": [date(2024, 1, 1)] * 3 + [date(2024, 1, 2)],
            "shop": ["a", "a", "b", "a"],
            "amount": [1.0, 3.0, 5.0, 7.0],
            "client": ["x", "y", "x", "x"],
        }
    )
    metrics = [
        ("count", None, "rows"),
        ("sum", "amount", "total"),
        ("mean", "amount", "avg"),
        ("min", "amount", "low"),
        ("max", "amount", "high"),
        ("distinct_count", "client", "clients"),
    ]
    out = transforms.aggregate(frame, ["shop"], metrics).collect()
    assert out.rows() == [
        (date(2024, 1, 1), "a", 2, 4.0, 2.0, 1.0, 3.0, 2),
        (date(2024, 1, 1), "b", 1, 5.0, 5.0, 5.0, 5.0, 1),
        (date(2024, 1, 2), "a", 1, 7.0, 7.0, 7.0, 7.0, 1),
    ]


def test_aggregate_null_semantics_match_sql():
    # Groups with some nulls, only nulls, a null group key; float, int and text columns.
    frame = pl.DataFrame(
        {
            "date": [date(2024, 1, 1)] * 7 + [date(2024, 1, 2)] * 3,
            "shop": ["a", "a", "a", "b", "b", None, None, "a", "a", "c"],
            "amount": [0.1, None, 0.2, None, None, 3.5, 1.25, 2.0, 0.3, None],
            "units": [1, None, 3, None, None, 4, None, 7, 8, None],
            "client": ["x", None, "x", None, None, "y", "z", None, "w", None],
        }
    )
    metrics = [
        ("count", None, "rows"),
        ("count", "client", "clients_given"),
        ("count_non_null", "amount", "amounts_given"),
        ("distinct_count", "client", "clients"),
        ("sum", "amount", "total"),
        ("sum", "units", "units_total"),
        ("mean", "amount", "avg"),
        ("mean", "units", "units_avg"),
        ("min", "amount", "low"),
        ("max", "units", "most"),
        ("min", "client", "first_client"),
        ("max", "client", "last_client"),
    ]
    ours = transforms.aggregate(frame, ["shop"], metrics).collect(engine="streaming")
    sql = duckdb.sql("""
        SELECT date, shop, COUNT(*) AS rows, COUNT(client) AS clients_given, COUNT(amount) AS amounts_given,
               COUNT(DISTINCT client) AS clients, SUM(amount) AS total, SUM(units) AS units_total,
               AVG(amount) AS avg, AVG(units) AS units_avg, MIN(amount) AS low, MAX(units) AS most,
               MIN(client) AS first_client, MAX(client) AS last_client
        FROM frame GROUP BY date, shop ORDER BY date, shop NULLS LAST
    """).pl()
    assert ours.columns == sql.columns
    assert ours.height == sql.height == 5
    for column in ours.columns:
        for got, expected in zip(ours[column].to_list(), sql[column].to_list(), strict=True):
            assert got == pytest.approx(expected, rel=1e-12) if isinstance(expected, float) else got == expected, column
    # The all-null group: SQL's NULL, not Polars' 0; no distinct value, not one.
    b = ours.filter(pl.col("shop") == "b").row(0, named=True)
    assert (b["total"], b["units_total"], b["avg"], b["clients"], b["rows"]) == (None, None, None, 0, 2)


def test_money_sums_are_exact_in_any_order_and_equal_sql_decimal_sums():
    # Cents that float addition gets wrong in some order: 0.1 + 0.2 != 0.3 in binary.
    cents = [10, 20, 30, 1999, -5, 123456789, 1, 1, 7, 2675] * 40
    frame = pl.DataFrame(
        {
            "date": [date(2024, 1, 1 + i % 2) for i in range(len(cents))],
            "shop": ["a" if i % 3 else "b" for i in range(len(cents))],
            "amount": [c / 100 for c in cents],
        }
    )
    metrics = [("sum", "amount", "total"), ("mean", "amount", "avg")]
    runs = [
        transforms.aggregate(
            frame.sample(fraction=1.0, shuffle=True, seed=seed), ["shop"], metrics, decimals={"amount": 2}
        ).collect(engine="streaming")
        for seed in range(3)
    ]
    assert runs[0].equals(runs[1]) and runs[0].equals(runs[2])
    sql = duckdb.sql("""
        SELECT date, shop, CAST(SUM(CAST(amount AS DECIMAL(18, 2))) AS DOUBLE) AS total
        FROM frame GROUP BY date, shop ORDER BY date, shop
    """).pl()
    assert runs[0]["total"].to_list() == sql["total"].to_list()
    for day, shop, avg in runs[0].select("date", "shop", "avg").rows():
        group = [c for c, d, s in zip(cents, frame["date"], frame["shop"], strict=True) if (d, s) == (day, shop)]
        assert avg == float(Fraction(sum(group), 100 * len(group)))


def test_money_sum_refuses_a_value_it_would_round():
    frame = pl.DataFrame({"date": [date(2024, 1, 1)] * 2, "amount": [1.25, 1.255]})
    with pytest.raises(pl.exceptions.InvalidOperationError, match="amount"):
        transforms.aggregate(frame, [], [("sum", "amount", "total")], decimals={"amount": 2}).collect()
