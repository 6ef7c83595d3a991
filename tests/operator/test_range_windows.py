"""A long range in one run stays in bounded memory: ``range_windows`` splits it into windows whose
filter Polars pushes through a day-local transform down to the Parquet scan, and rows outside the
range (or without a day) still reach a window, where ``stage_partitions`` refuses them."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from odf_assets.publishing import range_windows
from odf_assets.sales import transforms as sales

DAYS = [(date(2024, 1, 1) + timedelta(days=offset)).isoformat() for offset in range(5)]


def test_windows_cover_the_range_and_keep_stray_rows():
    frame = pl.LazyFrame(
        {"date": [date.fromisoformat(day) for day in DAYS] + [None, date(2024, 1, 9)], "n": list(range(7))}
    )
    windows = list(range_windows(frame, "date", DAYS, 2))
    assert [keys for keys, _ in windows] == [DAYS[0:2], DAYS[2:4], DAYS[4:5]]
    rows = [sorted(rows.collect()["n"].to_list()) for _, rows in windows]
    # The first window keeps the row without a day, the last the day after the range: none is lost.
    assert rows == [[0, 1, 5], [2, 3], [4, 6]]


def test_a_window_reads_only_its_days_through_a_day_local_transform(tmp_path):
    paths = []
    for day in DAYS:
        path = tmp_path / f"{day}.parquet"
        pl.DataFrame(
            {
                "date": [date.fromisoformat(day)] * 2,
                "invoice_line_no": ["a", "a"],
                "store": [1, 2],
                "sale_bottles": [1, 2],
                "sale_dollars": [1.0, 2.0],
            }
        ).write_parquet(path)
        paths.append(path)
    raw = pl.concat([pl.scan_parquet(path) for path in paths], how="diagonal_relaxed")
    deduplicated = raw.filter(pl.col(sales.INVOICE).is_first_distinct().over(sales.DATE))
    (_, middle) = list(range_windows(deduplicated, "date", DAYS, 2))[1]
    plan = middle.explain()
    scan = plan[plan.index("SCAN") :]
    assert "SELECTION" in scan and "2024-01-03" in scan and "2024-01-04" in scan, plan
    assert middle.collect()["date"].to_list() == [date(2024, 1, 3), date(2024, 1, 4)]
