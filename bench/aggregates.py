"""Sales aggregates at scale: ODF's Polars transforms vs pandas (the old stack) vs DuckDB.

Same generated Parquet, same results (checked), each engine in its own fresh process so peak RSS
is its own. Work per engine: clean the sales (drop returns/incomplete rows, dedupe invoice lines,
trim text), daily summary, weekly aggregation, and a declarative group-by (county per day).

    uv run python -m bench.aggregates            # 1M and 10M rows
    uv run python -m bench.aggregates --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ENGINES = ("polars", "pandas", "duckdb")
COLUMNS = ["invoice_line_no", "date", "store", "county", "im_desc", "sale_bottles", "sale_dollars", "sale_liters"]
COUNTIES = ["Polk", "Linn", "Scott", "Johnson", "Story", "Black Hawk", "Woodbury", "Dubuque"]


def generate(rows: int, path: Path, seed: int = 7) -> None:
    """Liquor-sales-shaped rows over one year, with returns, blanks and repeated invoice lines."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    invoice = rng.integers(0, int(rows * 0.99), rows)  # ~1% repeated invoice lines
    bottles = rng.choice([1, 2, 3, 6, 12, 24], rows) * np.where(rng.random(rows) < 0.005, -1, 1)
    price = rng.choice([12.5, 17.24, 20.99, 26.24, 32.99, 35.99], rows)
    county = np.array(COUNTIES + [" Polk "], dtype=object)[rng.integers(0, len(COUNTIES) + 1, rows)]
    county[rng.random(rows) < 0.01] = None
    pl.DataFrame({
        "invoice_line_no": pl.Series(invoice).cast(pl.String),
        "date": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 12, 30), eager=True).sample(rows, with_replacement=True, seed=seed).sort(),
        "store": rng.integers(2000, 6000, rows),
        "county": pl.Series(county, dtype=pl.String),
        "im_desc": pl.Series(rng.integers(0, 3000, rows)).cast(pl.String),
        "sale_bottles": bottles,
        "sale_dollars": bottles * price,
        "sale_liters": bottles * 0.75,
    }).write_parquet(path, row_group_size=1 << 20)  # fmt: skip


# Each runner imports only its own engine, so a child process's peak RSS is that engine's.
def run_polars(path: str) -> dict:
    import polars as pl

    from odf_assets.sales import transforms as sales
    from odf_assets.sources.transforms import aggregate

    # As in ODF's asset graph: cleaned_sales is materialized once, then the aggregates read it.
    cleaned = sales.clean_sales(pl.scan_parquet(path).select(COLUMNS)).collect(engine="streaming").lazy()
    daily = sales.daily_sales_summary(cleaned).with_columns(pl.col("date").dt.truncate("1w").alias("week_start"))
    by_county = aggregate(cleaned, ["county"], [("count", None, "rows"), ("sum", "sale_dollars", "revenue"), ("distinct_count", "store", "stores")])
    daily_df, county_df = pl.collect_all([daily, by_county])
    weekly = sales.weekly_sales(daily_df.lazy()).collect()
    return {"daily": daily_df.select("date", "transactions", "revenue"), "weekly": weekly.select("week_start", "revenue"), "county": county_df}


def run_pandas(path: str) -> dict:
    import pandas as pd

    frame = pd.read_parquet(path, columns=COLUMNS)
    frame = frame[frame["invoice_line_no"].notna() & frame["date"].notna() & frame["sale_dollars"].notna()
                  & (frame["sale_bottles"] > 0) & (frame["sale_dollars"] > 0)]  # fmt: skip
    frame = frame.drop_duplicates(subset=["invoice_line_no"], keep="first")
    frame["county"] = frame["county"].str.strip().fillna("Unknown").replace("", "Unknown")
    daily = frame.groupby("date", as_index=False).agg(transactions=("sale_dollars", "size"), revenue=("sale_dollars", "sum"))
    daily["week_start"] = pd.to_datetime(daily["date"]).dt.to_period("W-SUN").dt.start_time.dt.date
    weekly = daily.groupby("week_start", as_index=False).agg(revenue=("revenue", "sum"))
    county = frame.groupby(["date", "county"], as_index=False).agg(
        rows=("sale_dollars", "size"), revenue=("sale_dollars", "sum"), stores=("store", "nunique")
    )
    return {"daily": daily[["date", "transactions", "revenue"]], "weekly": weekly, "county": county}


def run_duckdb(path: str) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"""
        CREATE TEMP VIEW cleaned AS
        SELECT * EXCLUDE (county), coalesce(nullif(trim(county), ''), 'Unknown') AS county FROM (
          SELECT *, row_number() OVER (PARTITION BY invoice_line_no ORDER BY file_row_number) AS n
          FROM read_parquet('{path}', file_row_number = true)
          WHERE invoice_line_no IS NOT NULL AND date IS NOT NULL AND sale_dollars IS NOT NULL
            AND sale_bottles > 0 AND sale_dollars > 0) WHERE n = 1""")
    daily = con.sql("SELECT date, count(*) AS transactions, sum(sale_dollars) AS revenue FROM cleaned GROUP BY date").fetchall()
    weekly = con.sql("""SELECT date_trunc('week', date)::DATE AS week_start, sum(revenue) AS revenue
                        FROM (SELECT date, sum(sale_dollars) AS revenue FROM cleaned GROUP BY date) GROUP BY 1""").fetchall()
    county = con.sql("""SELECT date, county, count(*) AS rows, sum(sale_dollars) AS revenue, count(DISTINCT store) AS stores
                        FROM cleaned GROUP BY date, county""").fetchall()
    return {"daily": daily, "weekly": weekly, "county": county}


def canonical(results: dict) -> dict[str, list]:
    """Comparable digests: sorted rows with numbers rounded, so engines can be checked equal."""
    import polars as pl
    import polars.selectors as cs

    out = {}
    for name, result in results.items():
        # Polars frames, pandas frames or DuckDB row tuples, converted only after measuring.
        frame = result if isinstance(result, pl.DataFrame) else pl.DataFrame(result, orient="row") if isinstance(result, list) else pl.from_pandas(result)
        frame = frame.with_columns(pl.col(pl.Float64).round(2), pl.col(pl.Datetime).dt.date()).with_columns(cs.integer().cast(pl.Int64))
        out[name] = [str(row) for row in frame.sort(frame.columns).rows()][:: max(1, frame.height // 50)] + [frame.height]
    return out


def measure_in_this_process(engine: str, path: str) -> None:
    started = time.perf_counter()
    results = {"polars": run_polars, "pandas": run_pandas, "duckdb": run_duckdb}[engine](path)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before canonical() loads Polars
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "digest": canonical(results)}))


def measure(engine: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.aggregates", "--child", engine, str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_rss_mb(module: str) -> float:
    """Peak RSS of a process that only imported ``module``: printed for context, subtracted nowhere."""
    code = f"import resource, {module}; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="row counts (default: 1M and 10M)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        measure_in_this_process(*args.child)
        return []
    table = []
    imports = ", ".join(f"{m} {import_rss_mb(m):.0f} MB" for m in ENGINES)
    print(f"import-only process RSS ({imports}) is included in every peak below")
    print(f"{'rows':>11} {'engine':>7} {'seconds':>8} {'peak MB':>8} {'pandas/x time':>14} {'x/pandas RSS':>13} {'x/duckdb time':>14}")
    for rows in args.rows or [1_000_000, 10_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sales.parquet"
            generate(rows, path)
            measured = {engine: measure(engine, path) for engine in ENGINES}
        reference = measured["polars"]["digest"]
        for engine, result in measured.items():
            if result["digest"] != reference:
                raise SystemExit(f"{engine} disagrees with polars on {rows} rows: results differ")
        pandas, duckdb = measured["pandas"], measured["duckdb"]
        for engine, result in measured.items():
            row = {
                "rows": rows, "engine": engine, "seconds": result["seconds"], "peak_rss_mb": result["peak_rss_mb"],
                "pandas_over_engine_time": pandas["seconds"] / result["seconds"],
                "engine_over_pandas_rss": result["peak_rss_mb"] / pandas["peak_rss_mb"],
                "engine_over_duckdb_time": result["seconds"] / duckdb["seconds"],
            }  # fmt: skip
            table.append(row)
            print(f"{rows:>11,} {engine:>7} {row['seconds']:>8.2f} {row['peak_rss_mb']:>8.0f} {row['pandas_over_engine_time']:>13.1f}x "
                  f"{row['engine_over_pandas_rss']:>12.2f}x {row['engine_over_duckdb_time']:>13.2f}x")  # fmt: skip
    print("targets: polars ≥ 10x faster than pandas, ≤ 1/3 of its peak RSS, within 1.5x of DuckDB; all engines' results checked equal")
    return table


if __name__ == "__main__":
    main()
