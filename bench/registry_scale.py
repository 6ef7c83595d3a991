"""Code-location load as the registry grows: ``import odf.definitions`` and resolving every job, with
100, 1,000 and 5,000 sources (one aggregate each), each size in a fresh process.

Every process that loads the code location pays the import (the webserver, the daemon, each run
pod); the code server and the webserver also resolve every job (a run pod resolves only its own).
The per-source cost printed beside each size shows whether the growth is linear: it should stay
flat as the registry grows.

Beside ODF, interleaved in its own fresh processes, the floor: the same sources built with plain
Dagster and no ODF code (``bare_child``), so the targets can be read against what Dagster itself
needs on the machine. Each size prints ODF's time, the floor's and their ratio.

    uv run python -m bench.registry_scale [--sources 100 --sources 1000 --sources 5000] [--repeat 3]
    uv run python -m bench.registry_scale --quick      # 5 and 20 sources, once
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import timedelta
from pathlib import Path

import yaml

from bench.conditions import describe, emit, interleaved, median

DEFAULT_SIZES = (100, 1_000, 5_000)
QUICK_SIZES = (5, 20)
TARGET_SECONDS = {1_000: 5.0, 5_000: 25.0}
# The contenders: ODF's code location, and the same graph in plain Dagster (the floor).
ODF = "odf"
BARE = "bare_dagster"
CONTENDERS = (ODF, BARE)


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


def resolve_and_report(defs, started: float, cpu: float, extra: dict | None = None) -> None:
    """Both contenders' last step, timed the same way: resolve every job as the code server does,
    then print the child's timings (``import_s`` is everything before resolving) as one JSON line."""
    built, built_cpu = time.perf_counter(), time.process_time()
    repository = defs.get_repository_def()
    jobs = repository.get_all_jobs()
    resolved, resolved_cpu = time.perf_counter(), time.process_time()
    timings = {
        "import_s": built - started,
        "resolve_s": resolved - built,
        "total_s": resolved - started,
        "total_cpu_s": resolved_cpu - cpu,
        "import_cpu_s": built_cpu - cpu,
        "jobs": len(jobs),
        "schedules": len(repository.schedule_defs),
    }
    print(json.dumps({**timings, **(extra or {})}))


def child() -> None:
    """In a fresh interpreter: import the code location, then resolve every job as the code server does."""
    started, cpu = time.perf_counter(), time.process_time()
    import odf.definitions

    resolve_and_report(odf.definitions.defs, started, cpu)


def bare_child(registry: Path) -> None:
    """The floor, in a fresh interpreter: the same graph for the registry's sources built with plain
    Dagster and no ODF code, then every job resolved the same way.

    Per source, what ODF declares: a daily-partitioned raw asset with ODF's two checks (an ERROR
    ``data_contract``, a WARN ``data_quality``) as check specs, as ODF declares them; one aggregate
    reading it with its ``data_contract`` check; the same attributes (backfill policy, retry policy,
    IO manager key, kinds, pool, tags, op tags, owners, metadata, freshness policy on the raw asset,
    an automation condition on the aggregate); one ``@dg.schedule`` per source targeting one asset
    job over every source on the range, its run requests selecting the source's assets. Plus an op
    job (ODF's maintenance job). Not ODF's fixed part (the default pipeline, predictions, sensors):
    this compares what each further source costs. Immutable objects are shared between sources and
    the cyclic collector is handled as ODF handles it: the floor is what Dagster itself needs."""
    started, cpu = time.perf_counter(), time.process_time()
    # Local, so the parent process and ODF's child do not import Dagster before their clocks start;
    # the functions below carry no annotations, which Dagster would resolve in this module's globals.
    import dagster as dg

    imported, imported_cpu = time.perf_counter(), time.process_time()
    # What any project declaring partitioned checks and backfill policies would do (as ODF does).
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    # ODF's collector handling, plain Python (odf/location.py, odf/definitions.py): no cyclic
    # collection while building, then the built definitions frozen out of its reach, so the floor
    # is Dagster's own work, not the collector walking it.
    gc.disable()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    sources = yaml.load(registry.read_text(), Loader=loader)["sources"]

    class ParquetIOManager(dg.ConfigurableIOManager):
        def handle_output(self, context, obj):
            pass

        def load_input(self, context):
            return None

    # Immutable definitions every source can share, as a careful plain-Dagster project would: the
    # floor is what Dagster itself costs per source (a cron freshness policy alone walks its cron).
    partitions_defs: dict[str, dg.DailyPartitionsDefinition] = {}
    freshness = dg.FreshnessPolicy.cron(deadline_cron="30 1 * * *", lower_bound_delta=timedelta(days=1))
    fetch_retries = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
    storage_retries = dg.RetryPolicy(max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL)
    follow_inputs = dg.AutomationCondition.eager()
    common = {
        "group_name": "sources",
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "io_manager_key": "parquet_io_manager",
        "kinds": {"polars", "parquet"},
        "owners": ["team:data-platform"],
    }

    def source_defs(source: dict) -> tuple[list, str]:
        name = source["name"]
        start = str(source["start_date"])
        partitions_def = partitions_defs.get(start) or partitions_defs.setdefault(
            start, dg.DailyPartitionsDefinition(start_date=start)
        )
        raw_key = dg.AssetKey(["raw", name])

        @dg.asset(
            key=raw_key,
            description=source["description"],
            retry_policy=fetch_retries,
            pool="acquisition",
            tags={"odf/queue": "acquisition"},
            op_tags={"dagster-k8s/config": {"container_config": {"resources": {"requests": {"cpu": "1"}}}}},
            freshness_policy=freshness,
            metadata={"partition_expr": "date", "license": source["license"], "publisher": source["owner"]},
            check_specs=[
                dg.AssetCheckSpec("data_contract", asset=raw_key, partitions_def=partitions_def, blocking=True),
                dg.AssetCheckSpec("data_quality", asset=raw_key, partitions_def=partitions_def),
            ],
            partitions_def=partitions_def,
            **common,
        )
        def raw(context):
            return None

        aggregate = source["aggregates"][0]
        aggregate_key = dg.AssetKey(["aggregates", name, aggregate["name"]])

        @dg.asset(
            key=aggregate_key,
            ins={"raw": dg.AssetIn(key=raw_key)},
            retry_policy=storage_retries,
            pool="aggregation",
            tags={"odf/queue": "aggregation"},
            automation_condition=follow_inputs,
            metadata={"partition_expr": "date", "group_by": aggregate["group_by"]},
            check_specs=[
                dg.AssetCheckSpec("data_contract", asset=aggregate_key, partitions_def=partitions_def, blocking=True)
            ],
            partitions_def=partitions_def,
            **common,
        )
        def totals(context, raw):
            return None

        return [raw, totals], name

    built = [source_defs(source) for source in sources]
    ingest = dg.define_asset_job(
        "ingest_daily",
        selection=dg.AssetSelection.assets(*(asset.key for assets, _ in built for asset in assets)),
        tags={"odf/queue": "acquisition"},
    )

    def daily_schedule(name: str, keys: list[dg.AssetKey]) -> dg.ScheduleDefinition:
        @dg.schedule(name=f"ingest_{name}_daily", job=ingest, cron_schedule="30 1 * * *", execution_timezone="UTC")
        def ingest_source(context):
            return dg.RunRequest(run_key=name, asset_selection=keys, tags={"odf/source": name})

        return ingest_source

    @dg.op
    def clean_leftovers():
        pass

    @dg.job
    def maintenance():
        clean_leftovers()

    defs = dg.Definitions(
        assets=[asset for assets, _ in built for asset in assets],
        jobs=[ingest, maintenance],
        schedules=[daily_schedule(name, [a.key for a in assets]) for assets, name in built],
        resources={"parquet_io_manager": ParquetIOManager()},
    )
    gc.enable()
    gc.freeze()
    resolve_and_report(
        defs, started, cpu, {"import_dagster_s": imported - started, "import_dagster_cpu_s": imported_cpu - cpu}
    )


def measure(contender: str, registry: Path, storage: Path) -> dict:
    env = {**os.environ, "ODF_SOURCES": str(registry), "ODF_STORAGE": str(storage)}
    child_args = ["--child"] if contender == ODF else ["--bare-child", str(registry)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.registry_scale", *child_args], env=env, capture_output=True, text=True
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
    parser.add_argument("--bare-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child()
        return {}
    if args.bare_child:
        bare_child(args.bare_child)
        return {}
    sizes = args.sources or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    repeat = 1 if args.quick else args.repeat
    conditions = describe()
    with tempfile.TemporaryDirectory(prefix="odf-bench-registry-", dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
        folder = Path(tmp)
        registries = {n: write_registry(folder / f"sources_{n}.yaml", n) for n in sizes}
        # Every size of both contenders in one interleaved round, each a fresh process.
        names = [f"{contender}:{n}" for n in sizes for contender in CONTENDERS]

        def run(name: str) -> dict:
            contender, n = name.split(":")
            return measure(contender, registries[int(n)], folder / "storage")

        runs = interleaved(names, repeat, run)
    rows = []
    print(
        f"\n{'sources':>8} {'jobs':>6} {'import s':>9} {'resolve s':>10} {'total s':>8} {'CPU s':>7} "
        f"{'ms/source':>10} {'target':>9} {'floor s':>8} {'floor CPU':>9} {'ODF/floor':>9}"
    )
    timed = ("import_s", "resolve_s", "total_s", "total_cpu_s")
    for size in sizes:
        samples, floor_samples = runs[f"{ODF}:{size}"], runs[f"{BARE}:{size}"]
        row = {
            "sources": size,
            "jobs": samples[0]["jobs"],
            "schedules": samples[0]["schedules"],
            **{key: median([s[key] for s in samples]) for key in timed},
        }
        row["ms_per_source"] = 1000 * row["total_s"] / size
        target = TARGET_SECONDS.get(size)
        row["target_s"] = target
        row["met"] = None if target is None else row["total_s"] <= target
        floor = {
            "jobs": floor_samples[0]["jobs"],
            "schedules": floor_samples[0]["schedules"],
            **{key: median([s[key] for s in floor_samples]) for key in (*timed, "import_dagster_s")},
        }
        floor["met"] = None if target is None else floor["total_s"] <= target
        row["floor"] = floor
        row["over_floor"] = row["total_s"] / floor["total_s"]
        row["over_floor_cpu"] = row["total_cpu_s"] / floor["total_cpu_s"]
        rows.append(row)
        verdict = "-" if target is None else f"≤{target:.0f}s " + ("met" if row["met"] else "NOT met")
        print(
            f"{size:>8,} {row['jobs']:>6} {row['import_s']:>9.2f} {row['resolve_s']:>10.2f} {row['total_s']:>8.2f} "
            f"{row['total_cpu_s']:>7.2f} {row['ms_per_source']:>10.2f} {verdict:>9} {floor['total_s']:>8.2f} "
            f"{floor['total_cpu_s']:>9.2f} {row['over_floor']:>8.2f}x"
        )
    print(
        "floor: the same sources' assets, checks, schedules and jobs in plain Dagster, no ODF code "
        "(bench/registry_scale.py bare_child); ODF also carries its default pipeline and sensors"
    )
    # Linear growth: each further source costs what the earlier ones did (the fixed import cost aside).
    marginal = [
        {
            "from": low["sources"],
            "to": high["sources"],
            "ms_per_source": 1000 * (high["total_s"] - low["total_s"]) / (high["sources"] - low["sources"]),
            "cpu_ms_per_source": 1000 * (high["total_cpu_s"] - low["total_cpu_s"]) / (high["sources"] - low["sources"]),
            "floor_cpu_ms_per_source": 1000
            * (high["floor"]["total_cpu_s"] - low["floor"]["total_cpu_s"])
            / (high["sources"] - low["sources"]),
        }
        for low, high in zip(rows, rows[1:], strict=False)
    ]
    if marginal:
        print()
    for step in marginal:
        print(
            f"marginal cost per source {step['from']:,}→{step['to']:,}: {step['ms_per_source']:.2f} ms wall, "
            f"{step['cpu_ms_per_source']:.2f} ms CPU; floor {step['floor_cpu_ms_per_source']:.2f} ms CPU"
        )
    if len(marginal) > 1:
        growth = marginal[-1]["cpu_ms_per_source"] / marginal[0]["cpu_ms_per_source"]
        print(f"last step / first step (CPU): {growth:.2f}x (1.0 = linear; quadratic would grow with the registry)")
    print(f"median of {repeat} fresh process(es) per size and contender, interleaved")
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
