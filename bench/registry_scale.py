"""Code-location load as the registry grows: ``import odf.definitions`` and resolving every job, with
100, 1,000 and 5,000 sources (one aggregate each), each size in a fresh process.

Every process that loads the code location pays the import (the webserver, the daemon, each run
pod); the code server and the webserver also resolve every job (a run pod resolves only its own).
The per-source cost printed beside each size shows whether the growth is linear: it should stay
flat as the registry grows.

    uv run python -m bench.registry_scale [--sources 100 --sources 1000 --sources 5000] [--repeat 3]
    uv run python -m bench.registry_scale --quick      # 5 and 20 sources, once
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.conditions import describe, emit, interleaved, median

DEFAULT_SIZES = (100, 1_000, 5_000)
QUICK_SIZES = (5, 20)
TARGET_SECONDS = {1_000: 5.0, 5_000: 25.0}


def write_registry(path: Path, count: int) -> Path:
    """``count`` small open-ended CSV sources, each with one aggregate (as in the issue's measurement)."""
    sources = [
        {
            "name": f"scale_{index:05d}",
            "description": "Generated source (benchmark).",
            "license": "CC0-1.0",
            "owner": "ODF bench",
            "url_template": "days/{date}.csv",
            "format": "csv",
            "schema": {"item": "string", "value": "int64"},
            "start_date": "2024-01-01",
            "key": ["item"],
            "aggregates": [{"name": "totals", "group_by": ["item"], "metrics": [{"agg": "sum", "column": "value"}]}],
        }
        for index in range(count)
    ]
    path.write_text(yaml.safe_dump({"sources": sources}, sort_keys=False))
    return path


def child() -> None:
    """In a fresh interpreter: import the code location, then resolve every job as the code server does."""
    started, cpu = time.perf_counter(), time.process_time()
    import odf.definitions

    imported, imported_cpu = time.perf_counter(), time.process_time()
    repository = odf.definitions.defs.get_repository_def()
    jobs = repository.get_all_jobs()
    resolved, resolved_cpu = time.perf_counter(), time.process_time()
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "resolve_s": resolved - imported,
                "total_s": resolved - started,
                "total_cpu_s": resolved_cpu - cpu,
                "import_cpu_s": imported_cpu - cpu,
                "jobs": len(jobs),
                "schedules": len(repository.schedule_defs),
            }
        )
    )


def measure(registry: Path, storage: Path) -> dict:
    env = {**os.environ, "ODF_SOURCES": str(registry), "ODF_STORAGE": str(storage)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.registry_scale", "--child"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"loading {registry.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, action="append", help="registry sizes (default 100, 1000, 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per size, interleaved (median)")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, once (the CI smoke run)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child()
        return {}
    sizes = args.sources or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeat = 1 if args.quick else args.repeat
    conditions = describe()
    with tempfile.TemporaryDirectory(prefix="odf-bench-registry-", dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
        folder = Path(tmp)
        registries = {str(n): write_registry(folder / f"sources_{n}.yaml", n) for n in sizes}
        runs = interleaved(list(registries), repeat, lambda n: measure(registries[n], folder / "storage"))
    rows = []
    print(
        f"\n{'sources':>8} {'jobs':>6} {'import s':>9} {'resolve s':>10} {'total s':>8} {'CPU s':>7} "
        f"{'ms/source':>10} {'target':>9}"
    )
    for size in sizes:
        samples = runs[str(size)]
        row = {
            "sources": size,
            "jobs": samples[0]["jobs"],
            "schedules": samples[0]["schedules"],
            **{key: median([s[key] for s in samples]) for key in ("import_s", "resolve_s", "total_s", "total_cpu_s")},
        }
        row["ms_per_source"] = 1000 * row["total_s"] / size
        target = TARGET_SECONDS.get(size)
        row["target_s"] = target
        row["met"] = None if target is None else row["total_s"] <= target
        rows.append(row)
        verdict = "-" if target is None else f"≤{target:.0f}s " + ("met" if row["met"] else "NOT met")
        print(
            f"{size:>8,} {row['jobs']:>6} {row['import_s']:>9.2f} {row['resolve_s']:>10.2f} {row['total_s']:>8.2f} "
            f"{row['total_cpu_s']:>7.2f} {row['ms_per_source']:>10.2f} {verdict:>9}"
        )
    # Linear growth: each further source costs what the earlier ones did (the fixed import cost aside).
    marginal = [
        {
            "from": low["sources"],
            "to": high["sources"],
            "ms_per_source": 1000 * (high["total_s"] - low["total_s"]) / (high["sources"] - low["sources"]),
            "cpu_ms_per_source": 1000 * (high["total_cpu_s"] - low["total_cpu_s"]) / (high["sources"] - low["sources"]),
        }
        for low, high in zip(rows, rows[1:], strict=False)
    ]
    if marginal:
        print()
    for step in marginal:
        print(
            f"marginal cost per source {step['from']:,}→{step['to']:,}: {step['ms_per_source']:.2f} ms wall, "
            f"{step['cpu_ms_per_source']:.2f} ms CPU"
        )
    if len(marginal) > 1:
        growth = marginal[-1]["cpu_ms_per_source"] / marginal[0]["cpu_ms_per_source"]
        print(f"last step / first step (CPU): {growth:.2f}x (1.0 = linear; quadratic would grow with the registry)")
    print(f"median of {repeat} fresh process(es) per size, sizes interleaved")
    result = {
        "bench": "registry_scale",
        **conditions,
        "repeat": repeat,
        "sizes": rows,
        "marginal": marginal,
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
