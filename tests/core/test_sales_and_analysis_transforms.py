"""Pure sales-pipeline and analysis transforms on small hand-made frames."""

from datetime import date

import polars as pl
import pytest

from odf_assets.analysis import transforms as analysis
from odf_assets.deterministic import InexactAmountError, naming_inexact_amounts
from odf_assets.sales import transforms as sales

MON, TUE, WED, NEXT_MON = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 8)


def raw_sales():
    rows = [
        # invoice, date, store, county, category, item, bottles, dollars
        ("I1", MON, 1, "Polk", "Vodka", "A", 2, 20.0),
        ("I1", MON, 1, "Polk", "Vodka", "A", 2, 20.0),  # repeated invoice line
        ("I2", MON, 2, None, " Rum ", "B", 1, 15.0),  # missing county, untrimmed text
        ("I3", MON, 2, "Linn", "Rum", "B", -1, -15.0),  # a return
        ("I4", TUE, 1, "Polk", "Vodka", "A", 3, 30.0),
        ("I5", WED, 3, "Story", "Gin", "C", 10, 100.0),
        ("I6", NEXT_MON, 3, "Story", "Gin", "C", 1, 10.0),
    ]
    frame = pl.DataFrame(
        rows,
        schema=[
            "invoice_line_no",
            "date",
            "store",
            "county",
            "category_name",
            "im_desc",
            "sale_bottles",
            "sale_dollars",
        ],
        orient="row",
    )
    return frame.with_columns(
        sale_liters=pl.col("sale_bottles") * 0.75, name=pl.lit("Shop"), city=pl.lit("City"), vendor_name=pl.lit("V")
    ).lazy()


def test_clean_sales_drops_returns_duplicates_and_fills_text():
    cleaned = sales.clean_sales(raw_sales()).collect()
    assert cleaned["invoice_line_no"].to_list() == ["I1", "I2", "I4", "I5", "I6"]
    assert cleaned.filter(pl.col("invoice_line_no") == "I2").row(0, named=True)["county"] == "Unknown"
    assert cleaned.filter(pl.col("invoice_line_no") == "I2").row(0, named=True)["category_name"] == "Rum"


def test_clean_sales_finds_repeats_per_day_so_range_runs_match_day_by_day_runs():
    # The same invoice line number on two days is two sales; a repeat within a day is one.
    raw = raw_sales().collect()
    carried = raw.filter(pl.col("invoice_line_no") == "I4").with_columns(pl.lit(WED).alias("date"))
    frame = pl.concat([raw, carried, carried]).sort("date", maintain_order=True)
    whole_range = sales.clean_sales(frame.lazy()).collect()
    day_by_day = pl.concat(
        [sales.clean_sales(day.lazy()).collect() for day in frame.partition_by("date", maintain_order=True)]
    )
    assert whole_range.equals(day_by_day)
    assert whole_range.filter(pl.col("invoice_line_no") == "I4")["date"].to_list() == [TUE, WED]


def test_daily_summary_quality_and_enrichment():
    cleaned = sales.clean_sales(raw_sales())
    summary = sales.daily_sales_summary(cleaned).collect()
    monday = summary.filter(pl.col("date") == MON).row(0, named=True)
    assert (monday["transactions"], monday["bottles_sold"], monday["revenue"], monday["distinct_stores"]) == (
        2,
        3,
        35.0,
        2,
    )
    quality = sales.data_quality_metrics(raw_sales()).collect()
    q = quality.filter(pl.col("date") == MON).row(0, named=True)
    # I1 twice is one repeat: cleaning keeps I1 once and I2, so half of Monday's rows are usable.
    assert (q["raw_rows"], q["duplicate_invoice_rows"], q["missing_county"], q["returns_or_zero_sales"]) == (4, 1, 1, 1)
    assert (q["usable_rows"], q["usable_fraction"]) == (2, 0.5)
    enriched = sales.enriched_daily_summary(summary.lazy(), quality.lazy()).collect()
    row = enriched.filter(pl.col("date") == MON).row(0, named=True)
    assert (
        row["weekday"] == "Monday" and row["week_start"] == MON and row["revenue_per_bottle"] == pytest.approx(35 / 3)
    )
    assert enriched.filter(pl.col("date") == NEXT_MON)["week_start"].item() == NEXT_MON


def test_quality_metrics_agree_with_what_cleaning_keeps_on_every_day():
    raw = raw_sales().collect()
    # Tuesday: one complete line repeated, a return of a repeated line and a line without an invoice.
    extra = raw.filter(pl.col("invoice_line_no") == "I4").with_columns(pl.lit(-3, dtype=pl.Int64).alias("sale_bottles"))
    orphan = raw.filter(pl.col("invoice_line_no") == "I4").with_columns(
        pl.lit(None, dtype=pl.String).alias("invoice_line_no")
    )
    frame = pl.concat([raw, raw.filter(pl.col("invoice_line_no") == "I4"), extra, orphan]).lazy()
    kept = sales.clean_sales(frame).group_by("date").agg(pl.len().alias("kept")).collect()
    quality = (
        sales.data_quality_metrics(frame)
        .collect()
        .join(kept, on="date", how="left")
        .with_columns(pl.col("kept").fill_null(0))
    )
    assert quality["usable_rows"].to_list() == quality["kept"].to_list()
    assert quality["usable_fraction"].to_list() == (quality["kept"] / quality["raw_rows"]).to_list()
    tuesday = quality.filter(pl.col("date") == TUE).row(0, named=True)
    assert (
        tuesday["raw_rows"],
        tuesday["duplicate_invoice_rows"],
        tuesday["usable_rows"],
        tuesday["usable_fraction"],
    ) == (4, 1, 1, 0.25)


def test_float_aggregates_do_not_depend_on_row_order():
    # Adding floats in a different order changes the last bits: 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1.
    # Money (dollars, liters) has two decimals and is summed exactly; other floats in a fixed order.
    amounts = [0.1, 0.2, 0.3, 1e11, 1.0, -1e11, 2.67, 19.99] * 50
    measurements = [0.1, 0.2, 0.3, 1e16, 1.0, -1e16, 2.675, 1 / 3] * 50
    frame = pl.DataFrame(
        {
            "invoice_line_no": [f"L{i}" for i in range(len(amounts))],
            "date": [MON if i % 3 else TUE for i in range(len(amounts))],
            "store": [i % 4 for i in range(len(amounts))],
            "county": ["Polk"] * len(amounts),
            "category_name": ["Gin" if i % 2 else "Rum" for i in range(len(amounts))],
            "im_desc": ["A"] * len(amounts),
            "sale_bottles": [1] * len(amounts),
            "sale_dollars": amounts,
            "sale_liters": amounts,
            "state_bottle_retail": measurements,
        }
    )
    results = []
    for seed in range(4):
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed).lazy()
        summary = sales.daily_sales_summary(shuffled)
        enriched_days = sales.enriched_daily_summary(summary, sales.data_quality_metrics(shuffled)).collect()
        results.append(
            [
                summary.collect(engine="streaming"),
                sales.weekly_sales(enriched_days.sample(fraction=1.0, shuffle=True, seed=seed).lazy()).collect(
                    engine="streaming"
                ),
                analysis.category_summary(shuffled).collect(engine="streaming"),
                analysis.descriptive_stats(shuffled, ["state_bottle_retail", "sale_bottles"]).collect(
                    engine="streaming"
                ),
            ]
        )
    for other in results[1:]:
        for expected, got in zip(results[0], other, strict=True):
            assert expected.equals(got)
    # Exact: each day's revenue is the decimal sum, rounded once.
    for day, revenue in results[0][0].select("date", "revenue").rows():
        cents = sum(round(a * 100) for a, d in zip(amounts, frame["date"], strict=True) if d == day)
        assert revenue == cents / 100


def test_money_with_more_than_two_decimals_is_refused_with_its_row():
    cleaned = sales.clean_sales(raw_sales().lazy()).with_columns(
        pl.when(pl.col("invoice_line_no") == "I5").then(100.005).otherwise(pl.col("sale_dollars")).alias("sale_dollars")
    )
    with (
        pytest.raises(InexactAmountError) as refused,
        naming_inexact_amounts(
            cleaned, {"sale_liters": 2, "sale_dollars": 2}, "sales/cleaned_sales", ["date", "invoice_line_no"]
        ),
    ):
        sales.daily_sales_summary(cleaned).collect(engine="streaming")
    message = str(refused.value)
    assert "sales/cleaned_sales: row 3 " in message and "'I5'" in message and "'sale_dollars' is 100.005" in message


def enriched():
    cleaned = sales.clean_sales(raw_sales())
    return sales.enriched_daily_summary(sales.daily_sales_summary(cleaned), sales.data_quality_metrics(raw_sales()))


def test_weekly_trends_and_top_days_are_per_week():
    weekly = sales.weekly_sales(enriched()).collect()
    assert weekly["week_start"].to_list() == [MON, NEXT_MON]
    first = weekly.row(0, named=True)
    assert (first["revenue"], first["days_with_sales"], first["best_day"]) == (165.0, 3, WED)
    trends = sales.sales_trends(enriched()).collect()
    assert trends["revenue_change_pct"].to_list()[:3] == [None, pytest.approx(-100 / 7), pytest.approx(700 / 3)]
    # The moving average restarts with each week, so a partition never depends on its neighbours.
    assert trends.filter(pl.col("date") == NEXT_MON)["revenue_3day_average"].item() == 10.0
    top = sales.top_sales_days(enriched(), top_n=2).collect()
    assert top.filter(pl.col("week_start") == MON)["date"].to_list() == [WED, MON]


def test_trends_of_a_week_do_not_depend_on_other_weeks_in_the_frame():
    both = sales.sales_trends(enriched()).collect().filter(pl.col("week_start") == NEXT_MON)
    alone = sales.sales_trends(enriched().filter(pl.col("week_start") == NEXT_MON)).collect()
    assert both.equals(alone)


def test_category_summary_and_descriptive_stats():
    cleaned = sales.clean_sales(raw_sales())
    summary = analysis.category_summary(cleaned).collect().filter(pl.col("date") == MON)
    assert summary.select("category_name", "rows", "total").rows() == [("Rum", 1, 15.0), ("Vodka", 1, 20.0)][::-1]
    assert summary["share_of_day"].sum() == pytest.approx(1.0)
    stats = analysis.descriptive_stats(cleaned, ["sale_dollars", "sale_bottles"]).collect()
    row = stats.filter((pl.col("date") == MON) & (pl.col("column") == "sale_dollars")).row(0, named=True)
    assert (row["count"], row["min"], row["max"], row["mean"], row["median"]) == (2, 15.0, 20.0, 17.5, 17.5)
    assert stats.columns == ["date", "column", *analysis.STATISTICS]
