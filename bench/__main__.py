"""Every ODF benchmark in one run: ``uv run python -m bench`` (``--quick`` for smaller inputs).

Each benchmark runs in its own process and prints its ratios side by side; nothing here asserts
timings — targets are printed next to the measurements.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = {
    "predictions": (["--rows", "1000000"], ["--rows", "200000"]),
    "aggregates": (["--rows", "1000000", "--rows", "10000000"], ["--rows", "1000000"]),
    "large_input": (["--gigabytes", "3"], ["--gigabytes", "0.5"]),
    "backfill": ([], ["--days", "90"]),
    "startup": ([], ["--repeat", "1"]),
    "landing_memory": (["--megabytes", "200"], ["--megabytes", "50"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs (minutes, not tens of minutes)")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    summary = []
    for name in args.names or BENCHMARKS:
        full, quick = BENCHMARKS[name]
        print(f"\n=== bench.{name} {' '.join(quick if args.quick else full)}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", *(quick if args.quick else full)], check=False)
        summary.append(
            (name, "ok" if done.returncode == 0 else f"exit {done.returncode}", time.perf_counter() - started)
        )
    print("\n=== summary")
    for name, status, seconds in summary:
        print(f"  {name:<12} {status:<8} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
