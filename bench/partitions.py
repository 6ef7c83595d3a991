"""Per-day cost of a range run: fixed cost and per-day slope of ``odf materialize`` over 1..90 days.

    uv run python -m bench.partitions [--days 1 7 30 90] [--repeats 3] [--pipelines small default]
                                      [--postgres] [--baseline DIR]

Pipelines: ``small`` is one example source with one aggregate (``key:raw/brent_spot_price+``, one
row a day at most, from ``examples/sources.yaml``); ``default`` is what ``odf materialize`` runs
without ``--select`` (the bundled source, its aggregates, sales and analysis, weekly assets).

Contenders, run side by side, interleaved (every contender once per round, rounds repeated,
median of the rounds), each a fresh process on a fresh instance and storage:

* ``default_instance``: the local instance ``odf materialize`` uses, configured by the checkout's
  ``dagster.yaml`` (SQLite on disk);
* ``in_memory``: the same command on ``DagsterInstance.ephemeral()`` (the event log in memory);
* ``dagster_free``: ODF's own functions without Dagster (fetch/stage/measure, verdicts, aggregate,
  publish) for the raw asset and its declared aggregates, and for ``default`` its daily sales and
  analysis assets too (the weekly ones are left out: they are not per-day work);
* ``postgres`` (``--postgres``): the production storage (deploy/dagster.yaml's PostgreSQL
  storages) on a throwaway local cluster (needs the server binaries, as tests/deploy does);
* ``baseline`` (``--baseline DIR``): ``default_instance`` run from another checkout (e.g. an
  exported main), for before/after figures in the same run;
* ``consolidated_sqlite`` (``--modes``): the checkout's instance with Dagster's consolidated SQLite
  event log (one database instead of one per run plus an index that repeats asset events), the
  storage alternative dagster.yaml could choose;
* ``tmpfs_instance`` (``--modes``): ``default_instance`` with the instance directory (and the
  storage) in memory (``/dev/shm``), the same SQLite writes without waiting for the disk: how much of the per-day cost
  is ``fsync`` (each event write is several SQLite connections, each commit syncs).

A child's time is its whole process (interpreter start, imports, definitions, instance, runs), as
a user of ``odf materialize`` waits for it. The per-day slope and the fixed cost are a least-squares
line through the medians. Targets (issue 21): slope ≤ 0.1 s/day and fixed ≤ 4 s on the default
instance; 30 days within 2× the in-memory instance.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.conditions import describe, emit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_REGISTRY = ROOT / "examples" / "sources.yaml"
PIPELINES = {
    # name: (selection, extra registry, first day, last day); ranges end on the last day.
    "small": ("key:raw/brent_spot_price+", EXAMPLES_REGISTRY, date(1987, 5, 20), date(2019, 8, 26)),
    "default": (None, None, date(2024, 1, 1), date(2024, 3, 31)),
}
MODES = (
    "default_instance",
    "in_memory",
    "dagster_free",
    "consolidated_sqlite",
    "tmpfs_instance",
    "postgres",
    "baseline",
)
# What --modes can choose; postgres and baseline have their own options.
CHOSEN_MODES = MODES[:5]
# A memory-backed folder for tmpfs_instance (Linux).
MEMORY_FOLDER = Path("/dev/shm")


def day_range(pipeline: str, days: int) -> tuple[str, str]:
    _, _, first, last = PIPELINES[pipeline]
    if pipeline == "default":  # whole weeks from the start, so the weekly assets run too
        return first.isoformat(), (first + timedelta(days=days - 1)).isoformat()
    return (last - timedelta(days=days - 1)).isoformat(), last.isoformat()


# -- children ---------------------------------------------------------------------------------------
def child_dagster(mode: str, pipeline: str, days: int) -> dict:
    """What ``odf materialize`` does (odf_cli.local_run), on the instance ``mode`` names."""
    import dagster as dg

    from odf_cli.pipeline_run import materialize
    from odf_cli.progress import Progress
    from odf_cli.sqlite_writes import local_sqlite_writes

    started, began = time.perf_counter(), time.time() - 1
    start, end = day_range(pipeline, days)
    selection = PIPELINES[pipeline][0]
    progress = Progress(io.StringIO(), tty=False)
    with local_sqlite_writes():  # as odf materialize (odf_cli.local_run)
        instance = dg.DagsterInstance.ephemeral() if mode == "in_memory" else dg.DagsterInstance.get()
        with instance:
            materialize(start, end, instance, progress, selection, "WARNING")
            run_s = time.perf_counter() - started
            events = count_events(instance, began)  # not part of the command's time: the parent subtracts it
    if progress.failed_steps:
        raise SystemExit(f"{pipeline} {mode}: {progress.failed_steps[0]}")
    return {"run_s": run_s, "events": events, "count_s": time.perf_counter() - started - run_s}


def count_events(instance, since: float) -> dict[str, int]:
    """Events written per type by the runs created after ``since`` (the PostgreSQL database is shared)."""
    import dagster as dg

    counted: dict[str, int] = {}
    created_after = datetime.fromtimestamp(since, tz=UTC)
    for run in instance.get_runs(filters=dg.RunsFilter(created_after=created_after)):
        for entry in instance.all_logs(run.run_id):
            kind = entry.dagster_event_type.value if entry.dagster_event_type else "LOG_MESSAGE"
            counted[kind] = counted.get(kind, 0) + 1
    return counted


def child_dagster_free(pipeline: str, days: int) -> dict:
    """The raw asset's and its aggregates' work through ODF's functions alone, no Dagster run."""
    import polars as pl

    from odf_assets import checks
    from odf_assets.registry_loader import load_sources
    from odf_assets.sources import transforms
    from odf_assets.sources.acquisition import contract_for, stage_source
    from odf_assets.sources.registry import DEFAULT_REGISTRY
    from odf_resources.parquet_io_manager import publish_staged, stage_partitions
    from odf_resources.source_fetcher import SourceFetcher
    from odf_resources.storage import storage_from_uri

    started = time.perf_counter()
    start, end = day_range(pipeline, days)
    name = "brent_spot_price" if pipeline == "small" else "iowa_liquor_sales"
    source = next(s for s in load_sources() if s.name == name)
    keys = [(date.fromisoformat(start) + timedelta(days=i)).isoformat() for i in range(days)]
    storage = storage_from_uri(os.environ["ODF_STORAGE"])
    roots = [str(DEFAULT_REGISTRY.parent), str(EXAMPLES_REGISTRY.parent)]
    with tempfile.TemporaryDirectory(prefix="odf-bench-free-") as workdir:
        staged = stage_source(
            source,
            SourceFetcher(file_roots=roots),
            date.fromisoformat(start),
            date.fromisoformat(end) + timedelta(days=1),
            Path(workdir),
        )
        contract = contract_for(source)
        verdicts = {day: checks.verdicts(staged.findings[day], contract) for day in keys}
        assert not any(v.blocks for vs in verdicts.values() for v in vs), f"{name}: a day failed its checks"
        written = publish_staged(storage, ["raw", name], transforms.PARTITION_COLUMN, staged.files)
        raw = pl.scan_parquet([str(written[day]["uri"].value) for day in keys])
        for spec in source.aggregates:
            metrics = [(m.agg, m.column, m.name) for m in spec.metrics]
            result = transforms.aggregate(raw, spec.group_by, metrics).collect(engine="streaming")
            contract = checks.Contract(key=(transforms.PARTITION_COLUMN, *spec.group_by))
            checks.verdicts_by_day(result, transforms.PARTITION_COLUMN, keys, contract)
            files = stage_partitions(result, transforms.PARTITION_COLUMN, keys, Path(workdir), spec.name)
            publish_staged(storage, ["aggregates", name, spec.name], transforms.PARTITION_COLUMN, files)
        if pipeline == "default":
            daily_sales_and_analysis(raw, keys, storage, Path(workdir))
    return {"run_s": time.perf_counter() - started}


def daily_sales_and_analysis(raw, keys: list[str], storage, workdir: Path) -> None:
    """The default pipeline's daily sales and analysis assets through their transforms: each
    collected, checked per day, staged and published, the next reading what was published."""
    import polars as pl

    from odf_assets import checks
    from odf_assets.analysis import transforms as analysis
    from odf_assets.analysis.assets import STATS_COLUMNS
    from odf_assets.sales import transforms as sales
    from odf_resources.parquet_io_manager import publish_staged, stage_partitions

    def publish(path: list[str], frame, unique_by: tuple[str, ...]):
        result = frame.collect(engine="streaming")
        checks.verdicts_by_day(result, sales.DATE, keys, checks.Contract(key=unique_by))
        files = stage_partitions(result, sales.DATE, keys, workdir, "/".join(path))
        written = publish_staged(storage, path, sales.DATE, files)
        return pl.scan_parquet([str(written[day]["uri"].value) for day in keys])

    cleaned = publish(["sales", "cleaned_sales"], sales.clean_sales(raw), (sales.DATE, sales.INVOICE))
    quality = publish(["sales", "data_quality_metrics"], sales.data_quality_metrics(raw), (sales.DATE,))
    summary = publish(["sales", "daily_sales_summary"], sales.daily_sales_summary(cleaned), (sales.DATE,))
    enriched = sales.enriched_daily_summary(summary, quality)
    publish(["sales", "enriched_daily_summary"], enriched, (sales.DATE,))
    publish(["analysis", "summary"], analysis.category_summary(cleaned), (analysis.DATE, "category_name"))
    publish(["analysis", "stats"], analysis.descriptive_stats(cleaned, STATS_COLUMNS), (analysis.DATE, "column"))


# -- parent -----------------------------------------------------------------------------------------
def instance_yaml(mode: str, checkout: Path, home: Path) -> str:
    """The child's dagster.yaml: the checkout's, with production's PostgreSQL storages for ``postgres``
    or the consolidated SQLite event log for ``consolidated_sqlite``."""
    import yaml

    text = (checkout / "dagster.yaml").read_text()
    local = yaml.safe_load(text) or {}
    if mode == "postgres":
        production = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
        local.update({key: production[key] for key in ("run_storage", "event_log_storage", "schedule_storage")})
    elif mode == "consolidated_sqlite":
        local["event_log_storage"] = {
            "module": "dagster._core.storage.event_log",
            "class": "ConsolidatedSqliteEventLogStorage",
            "config": {"base_dir": str(home / "history")},
        }
    else:
        return text
    return yaml.safe_dump(local)


def measure(mode: str, pipeline: str, days: int, env_extra: dict, baseline: Path | None) -> dict:
    checkout = baseline if mode == "baseline" else ROOT
    folder = MEMORY_FOLDER if mode == "tmpfs_instance" else None
    with tempfile.TemporaryDirectory(prefix="odf-bench-partitions-", dir=folder) as scratch:
        home, storage = Path(scratch) / "home", Path(scratch) / "storage"
        home.mkdir()
        (home / "dagster.yaml").write_text(instance_yaml(mode, checkout, home))
        env = {**os.environ, **env_extra, "DAGSTER_HOME": str(home), "ODF_STORAGE": str(storage)}
        registry = PIPELINES[pipeline][1]
        env["ODF_SOURCES"] = str(registry) if registry else ""
        child_mode = mode if mode in ("in_memory", "dagster_free") else "default_instance"
        command = [sys.executable, "-m", "bench.partitions", "--child", child_mode, pipeline, str(days)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"bench.partitions: {mode} {pipeline} {days} day(s) failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # CPU time (user + system) beside the wall time: on a shared machine the wall time grows with
    # everybody's load, the CPU time barely moves. It includes counting the events (a few ms).
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {**result, "wall_s": wall - result.get("count_s", 0.0), "cpu_s": cpu}


def fit(points: dict[int, float]) -> tuple[float, float]:
    """Least-squares (slope per day, fixed cost) through (days, seconds)."""
    xs, ys = list(points), list(points.values())
    if len(xs) < 2:
        return float("nan"), ys[0]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)
    return slope, mean_y - slope * mean_x


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.partitions", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 7, 30, 90])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipelines", nargs="+", choices=sorted(PIPELINES), default=["small", "default"])
    parser.add_argument("--modes", nargs="+", choices=CHOSEN_MODES, default=list(MODES[:3]))
    parser.add_argument("--postgres", action="store_true", help="add the production storage on a local PostgreSQL")
    parser.add_argument("--baseline", type=Path, help="another checkout, run as default_instance beside this one")
    parser.add_argument("--quick", action="store_true", help="small pipeline, 1 and 2 days, once, PostgreSQL too (CI)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "PIPELINE", "DAYS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, pipeline, days = args.child[0], args.child[1], int(args.child[2])
        result = child_dagster_free(pipeline, days) if mode == "dagster_free" else child_dagster(mode, pipeline, days)
        print(json.dumps(result))
        return result

    if args.quick:
        # The production storage too, so the contender README's run includes cannot break unseen.
        args.pipelines, args.days, args.repeats, args.postgres = ["small"], [1, 2], 1, True
    conditions = describe()
    modes = list(args.modes) + ["postgres"] * args.postgres + ["baseline"] * bool(args.baseline)
    env_extra: dict = {}
    cluster = None
    if args.postgres:
        from tests.support.postgres import PostgresCluster

        cluster = PostgresCluster().start()
        env_extra = cluster.env()
    print(f"bench.partitions: load average {os.getloadavg()[0]:.2f} at start, {os.cpu_count()} CPUs")
    seconds: dict = {}
    cpu_seconds: dict = {}
    events: dict = {}
    try:
        for round_number in range(args.repeats):
            # Interleaved: each round runs every pipeline, size and contender once.
            for pipeline in args.pipelines:
                for days in args.days:
                    for mode in modes:
                        result = measure(mode, pipeline, days, env_extra, args.baseline)
                        seconds.setdefault((pipeline, mode, days), []).append(result["wall_s"])
                        cpu_seconds.setdefault((pipeline, mode, days), []).append(result["cpu_s"])
                        events[(pipeline, mode, days)] = result.get("events", {})
                        print(
                            f"  round {round_number + 1}: {pipeline:<7} {mode:<16} {days:>3} day(s) "
                            f"{result['wall_s']:6.2f} s (in-process {result['run_s']:.2f} s, "
                            f"CPU {result['cpu_s']:.2f} s, load {os.getloadavg()[0]:.1f})",
                            flush=True,
                        )
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"load average {os.getloadavg()[0]:.2f} at end; medians of {args.repeats} (seconds per process):")
    table = {}
    for pipeline in args.pipelines:
        header = f"{'pipeline':<8} {'contender':<17}" + "".join(f"{d:>7}d" for d in args.days)
        print(f"\n{header}   per day   fixed")
        for mode in modes:
            medians = {d: statistics.median(seconds[(pipeline, mode, d)]) for d in args.days}
            slope, fixed = fit(medians)
            cpu_medians = {d: statistics.median(cpu_seconds[(pipeline, mode, d)]) for d in args.days}
            cpu_slope, cpu_fixed = fit(cpu_medians)
            table[(pipeline, mode)] = {
                "medians": medians,
                "per_day_s": slope,
                "fixed_s": fixed,
                "cpu_medians": cpu_medians,
                "cpu_per_day_s": cpu_slope,
                "cpu_fixed_s": cpu_fixed,
                "events": {d: events[(pipeline, mode, d)] for d in args.days},
            }
            print(
                f"{pipeline:<8} {mode:<17}"
                + "".join(f"{medians[d]:8.2f}" for d in args.days)
                + f"  {slope:8.3f} {fixed:7.2f}"
            )
            print(
                f"{'':<8} {'  CPU time':<17}"
                + "".join(f"{cpu_medians[d]:8.2f}" for d in args.days)
                + f"  {cpu_slope:8.3f} {cpu_fixed:7.2f}"
            )
        for mode in modes:
            written = table[(pipeline, mode)]["events"][max(args.days)]
            if written:
                kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(written.items()) if "ASSET" in kind)
                print(f"  {mode}: {sum(written.values())} events in the {max(args.days)}-day run ({kinds})")
                first = table[(pipeline, mode)]["events"][min(args.days)]
                if len(args.days) > 1 and first:
                    span = max(args.days) - min(args.days)
                    per_day = {kind: (n - first.get(kind, 0)) / span for kind, n in sorted(written.items())}
                    shown = ", ".join(f"{kind} {n:g}" for kind, n in per_day.items() if n)
                    print(f"  {mode}: {sum(per_day.values()):g} events per further day ({shown})")
        reference = table[(pipeline, "default_instance")] if "default_instance" in modes else None
        for mode in modes:
            if reference is None or mode == "default_instance":
                continue
            other = table[(pipeline, mode)]
            ratios = ", ".join(f"{d}d {reference['medians'][d] / other['medians'][d]:.2f}x" for d in args.days)
            print(f"  default_instance / {mode}: {ratios}")
    emit(
        {
            "bench": "partitions",
            **conditions,
            "repeats": args.repeats,
            "table": {
                f"{pipeline}/{mode}": {
                    "per_day_s": row["per_day_s"],
                    "fixed_s": row["fixed_s"],
                    "medians": {str(days): seconds for days, seconds in row["medians"].items()},
                    "cpu_per_day_s": row["cpu_per_day_s"],
                    "cpu_fixed_s": row["cpu_fixed_s"],
                    "cpu_medians": {str(days): seconds for days, seconds in row["cpu_medians"].items()},
                    "events": {str(days): counts for days, counts in row["events"].items()},
                }
                for (pipeline, mode), row in table.items()
            },
        }
    )
    return table


if __name__ == "__main__":
    from odf_cli.main import exit_without_teardown

    # A child is timed as `odf materialize`, which ends its process the same way.
    exit_without_teardown(lambda: main() and 0)
