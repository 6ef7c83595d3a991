"""Sales at scale: ODF's Polars transforms vs pandas (the old pipeline's stack) vs DuckDB.

The input is laid out as ODF stores it: one Parquet file per day, written by the IO manager's own
range split. Two stages are measured, each engine in its own fresh process, engine imported before
the clock starts, peak RSS being that process's high-water mark:

- ``aggregates`` (the targets): from the cleaned sales, the daily summary, the weekly aggregation
  and a declarative group-by (county per day: rows, revenue, distinct stores);
- ``clean`` (context): from the raw sales, drop incomplete rows and returns, drop invoice lines
  repeated within a day, trim text; the cleaned frame held in memory, as the asset does.

Fairness: the engines run in interleaved rounds (``--repeat``, median reported; each round starts
with the next engine) and every engine does the same work: DuckDB materialises the daily summary
once and the weekly aggregation reads it; dollars and liters are summed exactly, as whole cents,
by every contender (ODF through ``odf_assets/deterministic.py``, pandas as int64, DuckDB as BIGINT),
each refusing a value with more than two decimals, so the same rows give the same bits in any order.
Their results are checked equal to Polars' exactly before any ratio is printed. Two Polars variants
show the price of determinism on their own: ``polars_ordered_float`` adds float sums in a fixed
order (each group sorted: ODF's former way), ``polars_float_sum`` uses Polars' plain, thread-order
float sums (last digits may change between runs); theirs are checked to 1e-9 relative.

    uv run python -m bench.aggregates            # 1M and 10M rows, 3 rounds
    uv run python -m bench.aggregates --rows 1000000 [--repeat 5]
    uv run python -m bench.aggregates --quick    # 20,000 rows, one round (the CI smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.conditions import describe, emit, interleaved, median
from bench.memory import peak_rss_mb

STAGE_ENGINES = {
    "aggregates": ("polars", "polars_ordered_float", "polars_float_sum", "pandas", "duckdb"),
    "clean": ("polars", "pandas", "duckdb"),
}
STAGES = tuple(STAGE_ENGINES)
# Float sums whose last digits depend on the order of addition: compared to 1e-9 relative.
FLOAT_SUM_ENGINES = ("polars_ordered_float", "polars_float_sum")
TARGET_OVER_DUCKDB = 0.8
TARGET_PANDAS_OVER_POLARS = 2.0
COLUMNS = ["invoice_line_no", "date", "store", "county", "im_desc", "sale_bottles", "sale_dollars", "sale_liters"]
COUNTIES = ["Polk", "Linn", "Scott", "Johnson", "Story", "Black Hawk", "Woodbury", "Dubuque"]
DAILY = [
    "date",
    "transactions",
    "bottles_sold",
    "liters_sold",
    "revenue",
    "average_sale",
    "distinct_stores",
    "distinct_items",
]
WEEKLY = [
    "week_start",
    "revenue",
    "bottles_sold",
    "transactions",
    "days_with_sales",
    "average_daily_revenue",
    "best_day",
]
COUNTY = ["date", "county", "rows", "revenue", "stores"]


def generate(rows: int, workdir: Path, seed: int = 7) -> tuple[Path, Path]:
    """Liquor-sales-shaped rows over one year, with returns, blanks and invoice lines repeated
    within a day; stored raw and cleaned as ODF stores them: one Parquet file per day."""
    import numpy as np
    import polars as pl

    from odf_assets.sales.transforms import clean_sales

    rng = np.random.default_rng(seed)
    invoice = np.arange(rows)
    repeats = np.flatnonzero(rng.random(rows) < 0.01)
    invoice[repeats[repeats > 0]] = invoice[repeats[repeats > 0] - 1]  # rows are date-sorted: same day
    bottles = rng.choice([1, 2, 3, 6, 12, 24], rows) * np.where(rng.random(rows) < 0.005, -1, 1)
    price = rng.choice([12.5, 17.24, 20.99, 26.24, 32.99, 35.99], rows)
    county = pl.Series(COUNTIES + [" Polk "]).gather(rng.integers(0, len(COUNTIES) + 1, rows))
    county = county.zip_with(pl.Series(rng.random(rows) >= 0.01), pl.Series([None], dtype=pl.String))
    days = pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 12, 30), eager=True)
    raw = pl.DataFrame(
        {
            "invoice_line_no": pl.Series(invoice).cast(pl.String),
            "date": days.sample(rows, with_replacement=True, seed=seed).sort(),
            "store": rng.integers(2000, 6000, rows),
            "county": county,
            "im_desc": pl.Series(rng.integers(0, 3000, rows)).cast(pl.String),
            "sale_bottles": bottles,
            "sale_dollars": bottles * price,
            "sale_liters": bottles * 0.75,
        }
    )
    keys = [str(day) for day in days]
    raw_dir, cleaned_dir = workdir / "raw_sales", workdir / "cleaned_sales"
    write_days(raw, keys, raw_dir)
    write_days(clean_sales(pl.scan_parquet(raw_dir / "*.parquet")), keys, cleaned_dir)
    return raw_dir, cleaned_dir


def write_days(frame, keys: list[str], folder: Path) -> None:
    """One file per day, split by the IO manager's own range split."""
    from odf_resources.parquet_io_manager import stage_partitions

    folder.mkdir()
    with tempfile.TemporaryDirectory(dir=folder.parent) as staging:
        for key, path in stage_partitions(frame, "date", keys, Path(staging), folder.name).items():
            shutil.move(path, folder / f"{key}.parquet")


# Each runner gets its engine already imported; the clock covers reading, computing and results.
def polars_aggregates(folder: str) -> dict:
    import polars as pl

    from odf_assets.sales import transforms as sales
    from odf_assets.sources.transforms import aggregate

    cleaned = pl.scan_parquet(f"{folder}/*.parquet")
    daily = sales.daily_sales_summary(cleaned)
    by_county = aggregate(
        cleaned,
        ["county"],
        [("count", None, "rows"), ("sum", "sale_dollars", "revenue"), ("distinct_count", "store", "stores")],
        decimals={"sale_dollars": sales.DECIMALS},
    )
    daily_df, county_df = pl.collect_all([daily, by_county], engine="streaming")
    weekly = sales.weekly_sales(
        daily_df.lazy().with_columns(pl.col("date").dt.truncate("1w").alias(sales.WEEK))
    ).collect()
    return {"daily": daily_df, "weekly": weekly, "county": county_df}


def polars_float_sum_aggregates(folder: str) -> dict:
    """The same queries with Polars' plain float sums and means: their last digits depend on how
    threads split the rows, so re-runs may write different bits (context, not a contender)."""
    return _polars_other_sums(folder, ordered=False)


def polars_ordered_float_aggregates(folder: str) -> dict:
    """The same queries with ODF's former deterministic float sums: each group's values sorted, then
    added in that order. The gap to ``polars`` is what exact integer-cent sums save."""
    return _polars_other_sums(folder, ordered=True)


def _polars_other_sums(folder: str, ordered: bool) -> dict:
    import polars as pl

    from odf_assets.deterministic import ordered_mean, ordered_sum
    from odf_assets.sales.transforms import DATE, WEEK

    def total(column: str) -> pl.Expr:
        return ordered_sum(column) if ordered else pl.col(column).sum()

    def mean(column: str) -> pl.Expr:
        return ordered_mean(column) if ordered else pl.col(column).mean()

    cleaned = pl.scan_parquet(f"{folder}/*.parquet")
    daily = (
        cleaned.group_by(DATE)
        .agg(
            pl.len().alias("transactions"),
            pl.col("sale_bottles").sum().alias("bottles_sold"),
            total("sale_liters").alias("liters_sold"),
            total("sale_dollars").alias("revenue"),
            mean("sale_dollars").alias("average_sale"),
            pl.col("store").n_unique().alias("distinct_stores"),
            pl.col("im_desc").n_unique().alias("distinct_items"),
        )
        .sort(DATE)
    )
    by_county = (
        cleaned.group_by(DATE, "county")
        .agg(
            pl.len().alias("rows"),
            total("sale_dollars").alias("revenue"),
            pl.col("store").n_unique().alias("stores"),
        )
        .sort(DATE, "county", nulls_last=True)
    )
    daily_df, county_df = pl.collect_all([daily, by_county], engine="streaming")
    weekly = (
        daily_df.lazy()
        .with_columns(pl.col(DATE).dt.truncate("1w").alias(WEEK))
        .group_by(WEEK)
        .agg(
            total("revenue"),
            pl.col("bottles_sold").sum(),
            pl.col("transactions").sum(),
            pl.len().alias("days_with_sales"),
            mean("revenue").alias("average_daily_revenue"),
            pl.col(DATE).sort_by("revenue", DATE, descending=[True, False]).first().alias("best_day"),
        )
        .sort(WEEK)
        .collect()
    )
    return {"daily": daily_df, "weekly": weekly, "county": county_df}


def pandas_aggregates(folder: str) -> dict:
    import pandas as pd

    def cents(values: pd.Series) -> pd.Series:
        """Whole cents as int64, refusing (as ODF does) a value with more than two decimals."""
        units = (values * 100).round()
        if not (units / 100 == values).all():
            raise ValueError(f"{values.name}: a value has more than two decimals")
        return units.astype("int64")

    frame = pd.read_parquet(
        folder, columns=["date", "store", "county", "im_desc", "sale_bottles", "sale_dollars", "sale_liters"]
    )
    frame["dollar_cents"], frame["liter_cents"] = cents(frame["sale_dollars"]), cents(frame["sale_liters"])
    daily = frame.groupby("date", as_index=False).agg(
        transactions=("sale_dollars", "size"),
        bottles_sold=("sale_bottles", "sum"),
        liter_cents=("liter_cents", "sum"),
        revenue_cents=("dollar_cents", "sum"),
        distinct_stores=("store", "nunique"),
        distinct_items=("im_desc", "nunique"),
    )
    daily["liters_sold"] = daily["liter_cents"] / 100
    daily["revenue"] = daily["revenue_cents"] / 100
    daily["average_sale"] = daily["revenue_cents"] / (daily["transactions"] * 100)
    days = pd.to_datetime(daily["date"])
    daily["week_start"] = (days - pd.to_timedelta(days.dt.weekday, unit="D")).dt.date
    weekly = (
        daily.sort_values(["revenue", "date"], ascending=[False, True])
        .groupby("week_start", as_index=False)
        .agg(
            revenue_cents=("revenue_cents", "sum"),
            bottles_sold=("bottles_sold", "sum"),
            transactions=("transactions", "sum"),
            days_with_sales=("date", "size"),
            best_day=("date", "first"),
        )
    )
    weekly["revenue"] = weekly["revenue_cents"] / 100
    weekly["average_daily_revenue"] = weekly["revenue_cents"] / (weekly["days_with_sales"] * 100)
    county = frame.groupby(["date", "county"], as_index=False).agg(
        rows=("sale_dollars", "size"), revenue_cents=("dollar_cents", "sum"), stores=("store", "nunique")
    )
    county["revenue"] = county["revenue_cents"] / 100
    return {"daily": daily, "weekly": weekly, "county": county}


def duckdb_aggregates(folder: str) -> dict:
    """Each relation computed once: the daily table is materialised, and the weekly aggregation reads it."""
    import duckdb

    con = duckdb.connect()
    # Whole cents as BIGINT, refusing (as ODF does) a value with more than two decimals.
    con.execute("""CREATE MACRO cents(x) AS CASE WHEN x IS NULL OR round(x * 100) / 100 = x
                   THEN round(x * 100)::BIGINT ELSE error('more than two decimals: ' || x) END""")
    con.execute(f"CREATE TEMP VIEW cleaned AS SELECT * FROM read_parquet('{folder}/*.parquet')")
    con.execute("""CREATE TEMP TABLE daily AS
                   SELECT date, count(*) AS transactions, sum(sale_bottles) AS bottles_sold,
                          sum(cents(sale_liters)) / 100 AS liters_sold, sum(cents(sale_dollars)) / 100 AS revenue,
                          sum(cents(sale_dollars)) / (count(sale_dollars) * 100) AS average_sale,
                          count(DISTINCT store) AS distinct_stores, count(DISTINCT im_desc) AS distinct_items
                   FROM cleaned GROUP BY date""")
    weekly = con.sql("""SELECT date_trunc('week', date)::DATE AS week_start, sum(cents(revenue)) / 100 AS revenue,
                               sum(bottles_sold) AS bottles_sold, sum(transactions) AS transactions,
                               count(*) AS days_with_sales,
                               sum(cents(revenue)) / (count(revenue) * 100) AS average_daily_revenue,
                               arg_max(date, (revenue, -epoch(date))) AS best_day
                        FROM daily GROUP BY 1""").fetchall()
    county = con.sql("""SELECT date, county, count(*) AS rows, sum(cents(sale_dollars)) / 100 AS revenue,
                               count(DISTINCT store) AS stores
                        FROM cleaned GROUP BY date, county""").fetchall()
    return {"daily": con.sql("SELECT * FROM daily").fetchall(), "weekly": weekly, "county": county}


def polars_clean(folder: str) -> dict:
    import polars as pl

    from odf_assets.sales import transforms as sales

    # As the cleaned_sales asset: the streaming engine collects the frame its IO manager stores.
    return {
        "cleaned": sales.clean_sales(pl.scan_parquet(f"{folder}/*.parquet").select(COLUMNS)).collect(engine="streaming")
    }


def pandas_clean(folder: str) -> dict:
    import pandas as pd

    frame = pd.read_parquet(folder, columns=COLUMNS)
    frame = frame[
        frame["invoice_line_no"].notna()
        & frame["date"].notna()
        & frame["sale_dollars"].notna()
        & (frame["sale_bottles"] > 0)
        & (frame["sale_dollars"] > 0)
    ]
    frame = frame.drop_duplicates(subset=["date", "invoice_line_no"], keep="first")
    for column in ("county", "im_desc"):
        frame[column] = frame[column].str.strip().fillna("Unknown").replace("", "Unknown")
    return {"cleaned": frame}


def duckdb_clean(folder: str) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"""
        CREATE TEMP TABLE cleaned AS
        SELECT * EXCLUDE (county, im_desc, n, filename, file_row_number),
               coalesce(nullif(trim(county), ''), 'Unknown') AS county,
               coalesce(nullif(trim(im_desc), ''), 'Unknown') AS im_desc
        FROM (SELECT *, row_number() OVER (PARTITION BY date, invoice_line_no ORDER BY filename, file_row_number) AS n
              FROM read_parquet('{folder}/*.parquet', filename = true, file_row_number = true)
              WHERE invoice_line_no IS NOT NULL AND date IS NOT NULL AND sale_dollars IS NOT NULL
                AND sale_bottles > 0 AND sale_dollars > 0)
        WHERE n = 1""")
    return {"cleaned": con}


# ODF's own modules are loaded with Polars before the clock, as an engine's import is.
ODF_POLARS = "polars,odf_assets.sales.transforms,odf_assets.sources.transforms"
RUNNERS = {
    ("aggregates", "polars"): (ODF_POLARS, polars_aggregates),
    ("aggregates", "polars_float_sum"): (ODF_POLARS, polars_float_sum_aggregates),
    ("aggregates", "polars_ordered_float"): (ODF_POLARS, polars_ordered_float_aggregates),
    ("aggregates", "pandas"): ("pandas", pandas_aggregates),
    ("aggregates", "duckdb"): ("duckdb", duckdb_aggregates),
    ("clean", "polars"): (ODF_POLARS, polars_clean),
    ("clean", "pandas"): ("pandas", pandas_clean),
    ("clean", "duckdb"): ("duckdb", duckdb_clean),
}


def comparable(stage: str, results: dict):
    """Results as Polars frames (converted after measuring); the cleaned table as a digest."""
    import polars as pl

    from odf_assets.deterministic import exact_sum

    def frame(result, columns):
        if isinstance(result, pl.DataFrame):
            return result.select(columns)
        if isinstance(result, list):
            return pl.DataFrame(result, schema=columns, orient="row")
        return pl.from_pandas(result[columns])

    if stage == "aggregates":
        names = {"daily": DAILY, "weekly": WEEKLY, "county": COUNTY}
        return {name: frame(results[name], columns) for name, columns in names.items()}
    cleaned = results["cleaned"]
    if not isinstance(cleaned, pl.DataFrame):
        cleaned = cleaned.sql("SELECT * FROM cleaned").pl() if hasattr(cleaned, "sql") else pl.from_pandas(cleaned)
    return {
        "digest": cleaned.group_by("date", "county").agg(
            pl.len().alias("rows"),
            exact_sum("sale_dollars", 2),
            pl.col("invoice_line_no").n_unique(),
            pl.col("im_desc").n_unique(),
        )
    }


def measure_in_this_process(stage: str, engine: str, folder: str, results_dir: str) -> None:
    modules, runner = RUNNERS[(stage, engine)]
    for module in modules.split(","):
        __import__(module)
    import_mb = peak_rss_mb()
    started = time.perf_counter()
    results = runner(folder)
    seconds = time.perf_counter() - started
    peak_mb = peak_rss_mb()  # before comparable() builds anything
    for name, frame in comparable(stage, results).items():
        frame.write_parquet(Path(results_dir) / f"{name}.parquet")
    print(
        json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "import_rss_mb": import_mb, "results_dir": results_dir})
    )


def measure(stage: str, engine: str, folder: Path, results_dir: Path) -> dict:
    results_dir.mkdir()
    command = [sys.executable, "-m", "bench.aggregates", "--child", stage, engine, str(folder), str(results_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_equal(reference: Path, other: Path, label: str, exact: bool) -> None:
    import polars as pl
    import polars.selectors as cs
    from polars.testing import assert_frame_equal

    for path in sorted(reference.glob("*.parquet")):
        expected, got = pl.read_parquet(path), pl.read_parquet(other / path.name)
        keys = [column for column in expected.columns if expected[column].dtype in (pl.Date, pl.String)]
        normalise = [pl.col(pl.Datetime).dt.date(), cs.integer().cast(pl.Int64)]
        try:
            assert_frame_equal(
                expected.with_columns(normalise).sort(keys),
                got.with_columns(normalise).sort(keys),
                check_exact=exact,
                rel_tol=1e-9,
            )
        except AssertionError as error:
            raise SystemExit(f"{label} disagrees with polars on {path.stem}: {error}") from error


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="row counts (default: 1M and 10M)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds per stage (medians reported)")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, one round (the CI smoke run)")
    parser.add_argument("--stage", choices=STAGES, action="append", help="stages to run (default: both)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        measure_in_this_process(*args.child)
        return []
    sizes = args.rows or ([20_000] if args.quick else [1_000_000, 10_000_000])
    repeat = 1 if args.quick else args.repeat
    conditions = describe()
    table = []
    for rows in sizes:
        with tempfile.TemporaryDirectory(dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
            workdir = Path(tmp)
            raw_dir, cleaned_dir = generate(rows, workdir)
            for stage in args.stage or STAGES:
                folder = cleaned_dir if stage == "aggregates" else raw_dir
                engines = STAGE_ENGINES[stage]
                rounds = iter(range(10**6))

                def run(engine: str, stage=stage, folder=folder, workdir=workdir, rounds=rounds) -> dict:
                    return measure(stage, engine, folder, workdir / f"{stage}-{engine}-{next(rounds)}")

                samples = interleaved(engines, repeat, run)
                for engine in engines[1:]:
                    for sample in samples[engine]:
                        check_equal(
                            Path(samples["polars"][0]["results_dir"]),
                            Path(sample["results_dir"]),
                            f"{engine} ({stage}, {rows:,} rows)",
                            exact=engine not in FLOAT_SUM_ENGINES,
                        )
                measured = {
                    engine: {
                        key: median([sample[key] for sample in runs])
                        for key in ("seconds", "peak_rss_mb", "import_rss_mb")
                    }
                    for engine, runs in samples.items()
                }
                pandas, duckdb = measured["pandas"], measured["duckdb"]
                for engine, result in measured.items():
                    table.append(
                        {
                            "rows": rows,
                            "stage": stage,
                            "engine": engine,
                            **result,
                            "all_seconds": [sample["seconds"] for sample in samples[engine]],
                            "pandas_over_engine_time": pandas["seconds"] / result["seconds"],
                            "engine_over_pandas_rss": result["peak_rss_mb"] / pandas["peak_rss_mb"],
                            "engine_over_duckdb_time": result["seconds"] / duckdb["seconds"],
                            "engine_over_duckdb_rss": result["peak_rss_mb"] / duckdb["peak_rss_mb"],
                        }
                    )
    print(
        f"\n{'rows':>11} {'stage':>10} {'engine':>20} {'seconds':>8} {'peak MB':>8} {'import MB':>9} "
        f"{'pandas/x time':>14} {'x/pandas RSS':>13} {'x/duckdb time':>14} {'x/duckdb RSS':>13}"
    )
    for row in table:
        print(
            f"{row['rows']:>11,} {row['stage']:>10} {row['engine']:>20} {row['seconds']:>8.2f} "
            f"{row['peak_rss_mb']:>8.0f} {row['import_rss_mb']:>9.0f} "
            f"{row['pandas_over_engine_time']:>13.1f}x {row['engine_over_pandas_rss']:>12.2f}x "
            f"{row['engine_over_duckdb_time']:>13.2f}x {row['engine_over_duckdb_rss']:>12.2f}x"
        )
    for row in table:
        if row["stage"] == "aggregates" and row["engine"] == "polars":
            same = (row["rows"], "aggregates", "polars_float_sum")
            float_sum = next(r for r in table if (r["rows"], r["stage"], r["engine"]) == same)
            same = (row["rows"], "aggregates", "polars_ordered_float")
            ordered = next(r for r in table if (r["rows"], r["stage"], r["engine"]) == same)
            met = (
                row["engine_over_duckdb_time"] <= TARGET_OVER_DUCKDB
                and row["pandas_over_engine_time"] >= TARGET_PANDAS_OVER_POLARS
                and row["engine_over_duckdb_rss"] <= 1
            )
            print(
                f"{row['rows']:,} rows, aggregates: polars {row['engine_over_duckdb_time']:.2f}x DuckDB's time, "
                f"{row['pandas_over_engine_time']:.1f}x pandas' speed, {row['engine_over_duckdb_rss']:.2f}x DuckDB's "
                f"peak (targets ≤ {TARGET_OVER_DUCKDB}x, ≥ {TARGET_PANDAS_OVER_POLARS}x, ≤ 1x): "
                + ("met" if met else "NOT met")
                + f"; exact integer-cent sums cost {row['seconds'] - float_sum['seconds']:+.2f} s over plain "
                f"float sums ({float_sum['engine_over_duckdb_time']:.2f}x DuckDB's time), ordered float sums "
                f"{ordered['seconds'] - float_sum['seconds']:+.2f} s ({ordered['engine_over_duckdb_time']:.2f}x, "
                f"{ordered['engine_over_duckdb_rss']:.2f}x DuckDB's peak)"
            )
    print(
        f"medians of {repeat} interleaved round(s), each engine in a fresh process; results of the exact-sum "
        "engines checked equal to polars' exactly, float-sum variants to 1e-9 relative. "
        "Peak includes the import-only RSS shown."
    )
    emit({"bench": "aggregates", **conditions, "repeat": repeat, "table": table})
    return table


if __name__ == "__main__":
    main()
