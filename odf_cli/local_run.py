"""``odf materialize``: run assets in-process for a date range (no cluster, no cloud).

Only argument handling lives here; Dagster is imported once the arguments are valid
(``odf_cli.pipeline_run``), so ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from odf_cli.catalog import check_selection
from odf_cli.instance import describe, use_local_instance
from odf_cli.main import CommandError, parse_date

DEFAULT_START, DEFAULT_END = "2024-01-01", "2024-01-14"
DESCRIPTION = (
    "Materialize assets in-process for a date range on the local instance "
    "(the project's .odf/dagster_home unless DAGSTER_HOME is set; the project is ODF_HOME or the nearest "
    "folder with a pyproject.toml), "
    "with live progress and a summary of rows and check verdicts; exits 1 when a step or an ERROR check failed. "
    "Without --select: every daily asset of the default pipeline, "
    "then the weekly ones for the whole weeks in the range."
)


def materialize(
    start: str, end: str, instance, log_level: str = "WARNING", selection: str | None = None, progress=None
) -> dict[str, list[str]]:
    """Runs ``selection`` (default: the default pipeline) over [start, end] on ``instance``; returns the
    stored URIs per asset and raises CommandError naming the failed step (for callers without a terminal)."""
    import io

    from odf_cli.pipeline_run import materialize as run
    from odf_cli.progress import Progress

    progress = progress or Progress(io.StringIO(), tty=False)
    written = run(start, end, instance, progress, selection, log_level)
    if progress.failed_steps:
        step, message = progress.failed_steps[0]
        raise CommandError(f"step {step} failed: {message}")
    return written


@contextlib.contextmanager
def dagster_log(path: Path, verbose: bool) -> Iterator[None]:
    """Dagster's own log lines (and warnings) go to ``path`` instead of between the progress lines;
    with ``--verbose`` they stay on stderr."""
    if verbose:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as log, contextlib.redirect_stderr(log):
        yield


def check_arguments(args: argparse.Namespace) -> None:
    """The arguments on their own; ``odf`` calls this before loading settings or anything heavier,
    and only then ``_command`` (its only caller), which relies on it."""
    parse_date(args.start, "--start")
    parse_date(args.end, "--end")
    if args.end < args.start:
        raise CommandError(f"--end {args.end} is before --start {args.start}")
    if args.select is not None and not args.select.strip():
        raise CommandError("--select needs a selection, e.g. group:sales or raw/iowa_liquor_sales")


def _command(args: argparse.Namespace) -> int:
    home = use_local_instance()
    if args.select:
        check_selection(home, args.select)  # from the last definitions' catalog, before Dagster loads

    from odf_cli.progress import Progress  # pure formatting: the first line comes before Dagster loads

    progress = Progress()
    what = args.select or "the default pipeline"
    progress.heading(f"odf materialize {what} {args.start}..{args.end} ({describe(home)})")
    progress.heading("loading Dagster and the definitions …")

    import dagster as dg

    from odf_cli.pipeline_run import materialize as run
    from odf_cli.sqlite_writes import local_sqlite_writes

    log_path = home / "logs" / f"materialize-{datetime.now():%Y%m%d-%H%M%S}.log"
    with local_sqlite_writes(), dg.DagsterInstance.get() as instance, dagster_log(log_path, args.verbose):
        written = run(args.start, args.end, instance, progress, args.select, "DEBUG" if args.verbose else "INFO")
    print("\nSummary:")
    print(progress.summary())
    if written:
        print("\nParquet files (first .. last partition):")
        for asset, uris in sorted(written.items()):
            ordered = sorted(set(uris))
            print(f"  {asset:<45} {ordered[0]}" + (f"\n  {'':<45} .. {ordered[-1]}" if len(ordered) > 1 else ""))
    if progress.failed_steps and not args.verbose:
        print(f"\nDagster's log with the stack traces: {log_path} (or run again with --verbose)")
    print(f"\n{progress.verdict()}")
    sys.stdout.flush()
    return 1 if progress.error_failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "materialize",
        help="Materialize assets in-process for a date range and print progress, a summary and the Parquet paths.",
        description=DESCRIPTION,
    )
    parser.add_argument("--start", default=DEFAULT_START, help=f"first day, YYYY-MM-DD (default {DEFAULT_START})")
    parser.add_argument("--end", default=DEFAULT_END, help=f"last day, inclusive (default {DEFAULT_END})")
    parser.add_argument(
        "--select",
        metavar="SELECTION",
        help="Dagster asset selection, e.g. 'raw/city_permits,aggregates/city_permits/permits_by_district', "
        "'group:sales', 'key:raw/iowa_liquor_sales+' or 'predictions/iris_model' (unpartitioned assets run once); "
        "default: the default pipeline",
    )
    parser.add_argument("--verbose", action="store_true", help="also show Dagster's step logs (DEBUG)")
    parser.set_defaults(func=_command, check_arguments=check_arguments)
