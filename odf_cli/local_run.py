"""``odf materialize``: run the default pipeline in-process for a date range (no cluster, no cloud)."""

from __future__ import annotations

import argparse
import os
from datetime import date

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from odf_assets.jobs import DAILY_PIPELINE_JOB, WEEKLY_SALES_JOB
from odf_cli.main import CommandError, parse_date

DEFAULT_START, DEFAULT_END = "2024-01-01", "2024-01-14"


def _keys_in_range(job: dg.JobDefinition, start: str, end: str) -> list[str]:
    """Partition keys of ``job`` whose window lies inside [start, end] (inclusive days)."""
    partitions = job.partitions_def
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    keys = []
    for key in partitions.get_partition_keys():
        window = partitions.time_window_for_partition_key(key)
        if window.start.date() >= first and window.end.date() <= date.fromordinal(last.toordinal() + 1):
            keys.append(key)
    return keys


def run_range(
    defs: dg.Definitions, job_name: str, keys: list[str], instance: dg.DagsterInstance, log_level: str = "INFO"
) -> dg.ExecuteInProcessResult:
    """One run over the whole key range: the assets' BackfillPolicy lets them process ranges."""
    job = defs.resolve_job_def(job_name)
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    return job.execute_in_process(instance=instance, tags=tags, run_config=run_config, raise_on_error=False)


def materialize(start: str, end: str, instance: dg.DagsterInstance, log_level: str = "INFO") -> dict[str, list[str]]:
    """Materialize every daily asset for [start, end] and the weekly ones for the whole weeks in it.

    Returns the stored URIs per asset; raises CommandError naming the failed step.
    """
    from odf_assets.definitions import build_definitions

    defs = build_definitions()
    written: dict[str, list[str]] = {}
    for job_name in (DAILY_PIPELINE_JOB, WEEKLY_SALES_JOB):
        try:
            job = defs.resolve_job_def(job_name)
        except dg.DagsterInvariantViolationError:
            continue
        keys = _keys_in_range(job, start, end)
        if not keys:
            if job_name == DAILY_PIPELINE_JOB:
                valid = job.partitions_def.get_partition_keys()
                raise CommandError(f"no partitions of {job_name} between {start} and {end} (valid: {valid[0]}..{valid[-1]})")
            continue
        result = run_range(defs, job_name, keys, instance, log_level)
        if not result.success:
            failures = [event.message for event in result.all_events if event.is_step_failure]
            raise CommandError(f"run {result.run_id} of {job_name} failed: {failures[0] if failures else 'see logs'}")
        for event in result.get_asset_materialization_events():
            uri = event.materialization.metadata.get("uri")
            if uri is not None:
                written.setdefault(event.asset_key.to_user_string(), []).append(str(uri.value))
    return written


def _command(args: argparse.Namespace) -> int:
    parse_date(args.start, "--start")
    parse_date(args.end, "--end")
    if args.end < args.start:
        raise CommandError(f"--end {args.end} is before --start {args.start}")
    # A DAGSTER_HOME keeps the runs for `dagster dev`; without one the run history is throwaway.
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    written = materialize(args.start, args.end, instance, "DEBUG" if args.verbose else "WARNING")
    print(f"Materialized {args.start}..{args.end}; Parquet files (first .. last partition):")
    for asset, uris in sorted(written.items()):
        ordered = sorted(set(uris))
        print(f"  {asset:<45} {len(ordered):>3} partition(s)  {ordered[0]}")
        if len(ordered) > 1:
            print(f"  {'':<45} {'':>3}     ..          {ordered[-1]}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "materialize", help="Materialize the default pipeline in-process for a date range and print the Parquet paths."
    )
    parser.add_argument("--start", default=DEFAULT_START, help=f"first day, YYYY-MM-DD (default {DEFAULT_START})")
    parser.add_argument("--end", default=DEFAULT_END, help=f"last day, inclusive (default {DEFAULT_END})")
    parser.add_argument("--verbose", action="store_true", help="show Dagster's step logs")
    parser.set_defaults(func=_command)
