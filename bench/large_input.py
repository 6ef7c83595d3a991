"""A partition far larger than memory: the raw asset's step on a generated multi-GB CSV.

Measured phase by phase, through the raw asset's own functions: ``stage_source`` (hash the file,
then one streaming pass that writes the day's finished Parquet file and measures the day: values
that did not convert, nulls, ranges, keys), the day's verdicts, and ``publish_staged`` (what the IO
manager does). Side by side in the same run: a bare Polars ``scan_csv → sink_parquet`` of the same
file, the reference for the raw step's throughput. A fresh process per run, so its peak RSS is the step's own.
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

from bench.conditions import describe, emit, interleaved, median
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
            chunk = pl.DataFrame(
                {
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
                }
            )
            chunk.write_csv(handle, include_header=first)
            first, rows = False, rows + n
    return rows


def run_pipeline(csv_path: str, parquet_path: str) -> None:
    """The measured child: the raw asset's step for one CSV partition, phase by phase."""
    import dataclasses

    import polars as pl

    from odf_assets import checks
    from odf_assets.sources.acquisition import contract_for, stage_source
    from odf_assets.sources.registry import DEFAULT_REGISTRY, load_registry_file
    from odf_resources.parquet_io_manager import publish_staged
    from odf_resources.source_fetcher import SourceFetcher
    from odf_resources.storage import storage_from_uri

    # The bundled source's schema, key and checks, pointed at the generated file (a file: source).
    bundled = next(s for s in load_registry_file(DEFAULT_REGISTRY) if s.name == "iowa_liquor_sales")
    spec = dataclasses.replace(bundled, url=Path(csv_path).as_uri())
    fetcher = SourceFetcher(file_roots=[str(Path(csv_path).parent)], max_bytes=1 << 40)
    workdir = Path(parquet_path).parent / "work"
    workdir.mkdir(exist_ok=True)
    storage = storage_from_uri(str(Path(parquet_path).parent / "storage"))
    sampler = MemorySampler()
    sampler.start()
    cpu_start = cpu_seconds()
    marks = [("start", time.perf_counter())]
    # Hash the file, then one pass: typed rows into the day's finished Parquet file + per-day measures.
    staged = stage_source(spec, fetcher, date(2024, 6, 1), date(2024, 6, 2), workdir)
    marks.append(("stage", time.perf_counter()))
    verdicts = checks.verdicts(staged.findings["2024-06-01"], contract_for(spec))
    marks.append(("verdicts", time.perf_counter()))
    written = publish_staged(storage, ["raw", spec.name], "date", staged.files)  # what the IO manager does
    marks.append(("publish", time.perf_counter()))
    cpu_used = cpu_seconds() - cpu_start
    sampler.running = False
    peak_mb = peak_rss_mb()
    stored = Path(str(written["2024-06-01"]["uri"].value))
    Path(parquet_path).write_bytes(stored.read_bytes()) if not Path(parquet_path).exists() else None
    rows = pl.scan_parquet(stored).select(pl.len()).collect().item()
    print(
        json.dumps(
            {
                "phases_s": {name: at - marks[i][1] for i, (name, at) in enumerate(marks[1:])},
                "total_s": marks[-1][1] - marks[0][1],
                "cpu_s": cpu_used,
                "peak_rss_mb": peak_mb,
                "rows": rows,
                "peak_anon_mb": sampler.peaks["RssAnon"],
                "peak_file_mb": sampler.peaks["RssFile"],
                "checks": {verdict.check: verdict.passed for verdict in verdicts},
            }
        )
    )


def cpu_seconds() -> float:
    """This process's CPU time (all threads): unlike wall time, it barely moves when other work shares the cores."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_bare_polars(csv_path: str, parquet_path: str) -> None:
    """The reference child: Polars alone, scan_csv → sink_parquet (zstd), no types, no checks."""
    import polars as pl

    sampler = MemorySampler()
    sampler.start()
    started, cpu_start = time.perf_counter(), cpu_seconds()
    pl.scan_csv(csv_path).sink_parquet(parquet_path, compression="zstd")
    seconds, cpu_used = time.perf_counter() - started, cpu_seconds() - cpu_start
    sampler.running = False
    rows = pl.scan_parquet(parquet_path).select(pl.len()).collect().item()
    print(
        json.dumps(
            {
                "phases_s": {"scan_csv→sink_parquet": seconds},
                "total_s": seconds,
                "cpu_s": cpu_used,
                "peak_rss_mb": peak_rss_mb(),
                "rows": rows,
                "peak_anon_mb": sampler.peaks["RssAnon"],
                "peak_file_mb": sampler.peaks["RssFile"],
                "checks": {},
            }
        )
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=3.0, help="CSV size to generate (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the three runs (medians)")
    parser.add_argument("--quick", action="store_true", help="10 MB, one round (the CI smoke run)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--bare-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.gigabytes, args.repeat = 0.01, 1
    if args.child:
        run_pipeline(*args.child)
        return {}
    if args.bare_child:
        run_bare_polars(*args.bare_child)
        return {}
    conditions = describe()
    with tempfile.TemporaryDirectory(dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
        csv_path, parquet_path = Path(tmp) / "partition.csv", Path(tmp) / "data.parquet"
        generated_rows = generate_csv(csv_path, int(args.gigabytes * (1 << 30)))
        csv_mb = csv_path.stat().st_size / (1 << 20)

        def run(label: str) -> dict:
            if label == BARE_POLARS:
                return run_child(csv_path, Path(tmp) / "bare.parquet", None, bare=True)
            return run_child(csv_path, parquet_path, CHUNK_SETTINGS[label])

        samples = interleaved([*CHUNK_SETTINGS, BARE_POLARS], args.repeat, run)
        parquet_mb = parquet_path.stat().st_size / (1 << 20)
    for label, results in samples.items():
        for result in results:
            if result["rows"] != generated_rows:
                raise SystemExit(f"{label}: row count mismatch: wrote {generated_rows}, Parquet has {result['rows']}")
    runs = {label: _median_run(results) for label, results in samples.items()}
    budget = 100 + 3 * parquet_mb
    cores = min(os.cpu_count() or 1, 2)
    print(
        f"CSV {csv_mb:,.0f} MB, {generated_rows:,} rows → Parquet {parquet_mb:,.0f} MB (zstd); "
        f"RSS budget 100 + 3 × {parquet_mb:,.0f} = {budget:,.0f} MB; {cores} cores"
    )
    print(
        f"{'CSV read chunks':<28} {'seconds':>8} {'rows/s':>11} {'MB/s/core':>10} "
        f"{'anon MB':>8} {'file MB':>8} {'peak MB':>8} {'peak/budget':>12}"
    )
    for label, result in runs.items():
        seconds = result["total_s"]
        ratio = result["peak_rss_mb"] / budget
        print(
            f"{label:<28} {seconds:>8.1f} {generated_rows / seconds:>11,.0f} {csv_mb / seconds / cores:>10,.1f} "
            f"{result['peak_anon_mb']:>8,.0f} {result['peak_file_mb']:>8,.0f} {result['peak_rss_mb']:>8,.0f} "
            f"{ratio:>11.2f}x {'meets' if ratio <= 1 else 'MISSES'}"
        )
    odf = runs[ODF_DEFAULT]
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in odf["phases_s"].items())
    print(
        "anon = the step's own memory; file = the memory-mapped CSV's page cache, which the kernel can drop; "
        "peak = the process's high-water mark (VmHWM), Dagster and ODF imported."
    )
    print(f"phases ({ODF_DEFAULT}): {phases}; checks passed: {odf['checks']}")
    bare = runs[BARE_POLARS]
    print(
        f"ODF's whole raw step runs at {bare['total_s'] / odf['total_s']:.0%} of bare Polars' throughput by wall time "
        f"({odf['total_s']:.1f} s vs {bare['total_s']:.1f} s) and {bare['cpu_s'] / odf['cpu_s']:.0%} by CPU time "
        f"({odf['cpu_s']:.1f} s vs {bare['cpu_s']:.1f} s), peak RSS {odf['peak_rss_mb'] / bare['peak_rss_mb']:.2f}x its"
    )
    print(f"medians of {args.repeat} interleaved round(s), each run in a fresh process")
    summary = {"csv_mb": csv_mb, "parquet_mb": parquet_mb, "rss_budget_mb": budget, "rows": generated_rows}
    summary["runs"] = runs
    emit({"bench": "large_input", **conditions, "repeat": args.repeat, **summary})
    return summary


def _median_run(results: list[dict]) -> dict:
    """Each numeric figure's median over the rounds; the rest (checks, rows) from the first round."""
    merged = dict(results[0])
    for key, value in results[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            merged[key] = median([result[key] for result in results])
        elif isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
            merged[key] = {name: median([result[key][name] for result in results]) for name in value}
    return merged


# ODF's bound (odf_resources.polars_tuning) against Polars' own read-ahead, on the same file.
ODF_DEFAULT = "ODF default (1 MiB)"
CHUNK_SETTINGS = {ODF_DEFAULT: None, "Polars' default": "0"}


BARE_POLARS = "bare Polars (reference)"


def run_child(csv_path: Path, parquet_path: Path, chunk_setting: str | None, bare: bool = False) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("POLARS_CSV_CHUNK_SIZE", "ODF_CSV_READ_CHUNK_BYTES")
    }
    if chunk_setting is not None:
        env["ODF_CSV_READ_CHUNK_BYTES"] = chunk_setting
    child = [
        sys.executable,
        "-m",
        "bench.large_input",
        "--bare-child" if bare else "--child",
        str(csv_path),
        str(parquet_path),
    ]
    done = subprocess.run(child, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
