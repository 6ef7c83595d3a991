"""A partition far larger than memory: the raw asset's step on a generated multi-GB CSV.

Measured phase by phase, through the raw asset's own functions: ``acquire`` (hash the file, parse
it once against the bundled source's registry schema into a local staged Parquet file with a flag
per value that did not convert, check the flags: errors name column and row); the IO manager's
writer producing the stored Parquet; the source's asset checks (schema, key uniqueness, null
rates, ranges) on the staged file. A fresh process per run, so its peak RSS is the step's own.
Target: peak RSS ≤ 100 MB + 3 × the Parquet file size. It runs twice on the same file, side by
side: with ODF's bounded CSV read chunks (``odf_resources.polars_tuning``) and with Polars' own
read-ahead.

    uv run python -m bench.large_input               # ~3 GB CSV
    uv run python -m bench.large_input --gigabytes 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.memory import MemorySampler, peak_rss_mb

CHUNK_ROWS = 2_000_000


def generate_csv(path: Path, target_bytes: int) -> int:
    """Append Iowa-liquor-shaped chunks until the file reaches ``target_bytes``; returns rows."""
    import numpy as np
    import polars as pl

    rng, rows, first = np.random.default_rng(11), 0, True
    with open(path, "wb") as handle:
        while handle.tell() < target_bytes:
            n = CHUNK_ROWS
            bottles = rng.choice([1, 2, 3, 6, 12, 24], n)
            price = rng.choice([12.5, 17.24, 20.99, 26.24, 32.99, 35.99], n)
            chunk = pl.DataFrame({
                "invoice_line_no": pl.Series(np.arange(rows, rows + n)).cast(pl.String).str.pad_start(12, "0"),
                "date": ["2024-06-01"] * n,
                "store": rng.integers(2000, 6000, n),
                "name": pl.Series(rng.integers(0, 2000, n)).cast(pl.String).str.replace(r"^", "Store "),
                "city": pl.Series(rng.choice(["Des Moines", "Cedar Rapids", "Davenport", "Iowa City", "Ames"], n)),
                "county": pl.Series(rng.choice(["Polk", "Linn", "Scott", "Johnson", "Story"], n)),
                "category_name": pl.Series(rng.choice(["American Vodkas", "Canadian Whiskies", "Spiced Rum"], n)),
                "vendor_name": pl.Series(rng.choice(["Diageo Americas", "Sazerac Company Inc", "Proximo"], n)),
                "im_desc": pl.Series(rng.integers(0, 3000, n)).cast(pl.String).str.replace(r"^", "Item "),
                "bottle_volume_ml": rng.choice([375, 750, 1000, 1750], n),
                "state_bottle_retail": price,
                "sale_bottles": bottles,
                "sale_dollars": (bottles * price).round(2),
                "sale_liters": (bottles * 0.75).round(2),
            })  # fmt: skip
            chunk.write_csv(handle, include_header=first)
            first, rows = False, rows + n
    return rows


def run_pipeline(csv_path: str, parquet_path: str) -> None:
    """The measured child: the raw asset's step for one CSV partition, phase by phase."""
    import dataclasses

    import polars as pl

    from odf_assets import checks
    from odf_assets.sources.acquisition import acquire
    from odf_assets.sources.registry import DEFAULT_REGISTRY, load_registry_file
    from odf_resources.parquet_io_manager import write_parquet
    from odf_resources.source_fetcher import SourceFetcher

    # The bundled source's schema, key and checks, pointed at the generated file (a file: source).
    bundled = next(s for s in load_registry_file(DEFAULT_REGISTRY) if s.name == "iowa_liquor_sales")
    spec = dataclasses.replace(bundled, url=Path(csv_path).as_uri())
    fetcher = SourceFetcher(file_roots=[str(Path(csv_path).parent)], max_bytes=1 << 40)
    workdir = Path(parquet_path).parent / "work"
    workdir.mkdir(exist_ok=True)
    sampler = MemorySampler()
    sampler.start()
    marks = [("start", time.perf_counter())]
    # Hash the file, parse it once into a staged Parquet file with conversion flags, check the flags.
    acquired = acquire(spec, fetcher, date(2024, 6, 1), date(2024, 6, 2), workdir)
    marks.append(("acquire", time.perf_counter()))
    write_parquet(acquired.frame, Path(parquet_path))  # the IO manager's writer; upload/rename excluded
    marks.append(("write", time.perf_counter()))
    results = list(checks.check_results(
        acquired.frame, expected_schema=spec.schema, extra_columns=acquired.extra_columns, key=spec.key,
        null_limits=spec.max_null_fraction, ranges=spec.ranges,
    ))  # fmt: skip
    marks.append(("checks", time.perf_counter()))
    sampler.running = False
    peak_mb = peak_rss_mb()
    rows = pl.scan_parquet(parquet_path).select(pl.len()).collect().item()
    print(json.dumps({
        "phases_s": {name: at - marks[i][1] for i, (name, at) in enumerate(marks[1:])},
        "total_s": marks[-1][1] - marks[0][1], "peak_rss_mb": peak_mb, "rows": rows,
        "peak_anon_mb": sampler.peaks["RssAnon"], "peak_file_mb": sampler.peaks["RssFile"],
        "checks": {result.check_name: result.passed for result in results},
    }))  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=3.0, help="CSV size to generate (default 3)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_pipeline(*args.child)
        return {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
        csv_path, parquet_path = Path(tmp) / "partition.csv", Path(tmp) / "data.parquet"
        generated_rows = generate_csv(csv_path, int(args.gigabytes * (1 << 30)))
        csv_mb = csv_path.stat().st_size / (1 << 20)
        runs = {label: run_child(csv_path, parquet_path, chunk) for label, chunk in CHUNK_SETTINGS.items()}
        parquet_mb = parquet_path.stat().st_size / (1 << 20)
    for label, result in runs.items():
        if result["rows"] != generated_rows:
            raise SystemExit(f"{label}: row count mismatch: wrote {generated_rows}, Parquet has {result['rows']}")
    budget = 100 + 3 * parquet_mb
    cores = min(os.cpu_count() or 1, 2)
    print(f"CSV {csv_mb:,.0f} MB, {generated_rows:,} rows → Parquet {parquet_mb:,.0f} MB (zstd); "
          f"RSS budget 100 + 3 × {parquet_mb:,.0f} = {budget:,.0f} MB; {cores} cores")  # fmt: skip
    print(f"{'CSV read chunks':<28} {'seconds':>8} {'rows/s':>11} {'MB/s/core':>10} {'anon MB':>8} {'file MB':>8} {'peak MB':>8} {'peak/budget':>12}")
    for label, result in runs.items():
        seconds = result["total_s"]
        ratio = result["peak_rss_mb"] / budget
        print(f"{label:<28} {seconds:>8.1f} {generated_rows / seconds:>11,.0f} {csv_mb / seconds / cores:>10,.1f} "
              f"{result['peak_anon_mb']:>8,.0f} {result['peak_file_mb']:>8,.0f} {result['peak_rss_mb']:>8,.0f} "
              f"{ratio:>11.2f}x {'meets' if ratio <= 1 else 'MISSES'}")  # fmt: skip
    odf = runs[ODF_DEFAULT]
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in odf["phases_s"].items())
    print("anon = the step's own memory; file = the memory-mapped CSV's page cache, which the kernel can drop; "
          "peak = the process's high-water mark (VmHWM), Dagster and ODF imported.")
    print(f"phases ({ODF_DEFAULT}): {phases}; checks passed: {odf['checks']}")
    return {"csv_mb": csv_mb, "parquet_mb": parquet_mb, "rss_budget_mb": budget, "rows": generated_rows, "runs": runs}


# ODF's bound (odf_resources.polars_tuning) against Polars' own read-ahead, on the same file.
ODF_DEFAULT = "ODF default (4 MiB)"
CHUNK_SETTINGS = {ODF_DEFAULT: None, "Polars' default": "0"}


def run_child(csv_path: Path, parquet_path: Path, chunk_setting: str | None) -> dict:
    env = {name: value for name, value in os.environ.items() if name not in ("POLARS_CSV_CHUNK_SIZE", "ODF_CSV_READ_CHUNK_BYTES")}
    if chunk_setting is not None:
        env["ODF_CSV_READ_CHUNK_BYTES"] = chunk_setting
    child = [sys.executable, "-m", "bench.large_input", "--child", str(csv_path), str(parquet_path)]
    done = subprocess.run(child, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
