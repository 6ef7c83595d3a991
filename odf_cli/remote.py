"""``odf trigger | backfill | status | results``: drive a running Dagster through its GraphQL API.

Everything is checked against the webserver's own asset definitions *before* anything is launched:
the API happily accepts a future date or a partitioned asset without a partition and lets the run
fail later, so a bad date, an unknown asset or mixed partitionings are refused here, with exit 2.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from datetime import UTC, datetime

from odf_cli.graphql import AssetNode, Webserver, default_url
from odf_cli.main import CommandError, parse_date
from odf_cli.progress import Progress
from odf_cli.run_follow import BACKFILL_DONE, RUN_DONE, failure_details, follow_run, queue_state, wait_for
from odf_resources.run_tags import PARENT_RUN_ID_TAG, WILL_RETRY_TAG, run_partition

QUEUE_TAG = "odf/queue"


def resolve_assets(server: Webserver, raw: str) -> list[AssetNode]:
    """The definitions of the comma-separated ``raw`` keys; unknown keys are an error with suggestions."""
    keys = [key.strip().strip("/") for key in raw.split(",") if key.strip()]
    if not keys:
        raise CommandError("--asset needs at least one asset key, e.g. raw/iowa_liquor_sales")
    nodes = server.asset_nodes(keys)
    unknown = [key for key in keys if key not in nodes]
    if unknown:
        known = server.all_asset_keys()
        close = difflib.get_close_matches(unknown[0], known, n=3, cutoff=0.5)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else f"; known assets: {', '.join(known[:12])}" + (" …" if len(known) > 12 else "")
        )
        raise CommandError(f"unknown asset {unknown[0]!r} at {server.url}{hint}")
    selected = [nodes[key] for key in keys]
    partitionings = {node.partition_keys for node in selected}
    if len(partitionings) > 1:
        described = "; ".join(f"{node.key}: {node.partitioning or 'not partitioned'}" for node in selected)
        raise CommandError(f"the selected assets are partitioned differently ({described}): launch them separately")
    return selected


def check_partition(node: AssetNode, day: str | None) -> None:
    """``day`` must be an existing partition of ``node`` (or absent for an unpartitioned asset)."""
    if node.partition_keys is None:
        if day is not None:
            raise CommandError(f"{node.key} is not partitioned: leave out --date")
        return
    if day is None:
        raise CommandError(f"{node.key} is partitioned ({node.partitioning}): --date is required")
    if day in node.partition_keys:
        return
    keys = node.partition_keys
    span = f"{keys[0]}..{keys[-1]}" if keys else "none yet"
    if day > datetime.now(UTC).date().isoformat():
        reason = "is in the future; a day becomes a partition once it has closed"
    elif keys and (day < keys[0] or day > keys[-1]):
        reason = "is outside the asset's partitions"
    else:
        reason = f"is not a partition key ({node.partitioning})"
    raise CommandError(f"{day} {reason}: {node.key} has partitions {span}")


def queue_tags(nodes: list[AssetNode]) -> dict[str, str]:
    """A run that fetches anything belongs to the acquisition queue; otherwise to the aggregation one."""
    queues = {node.tags.get(QUEUE_TAG) for node in nodes}
    for queue in ("acquisition", "aggregation"):
        if queue in queues:
            return {QUEUE_TAG: queue}
    return {}


def _print_run(run: dict, server: Webserver | None = None) -> None:
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    partition = run_partition(tags) or "-"
    assets = ", ".join("/".join(key["path"]) for key in run.get("assetSelection") or [])
    print(f"run {run['runId']}: {run['status']}")
    if run["status"] == "QUEUED" and server is not None:
        print(f"  {queue_state(server, run)}")
    print(f"  job {run['jobName']}  partition {partition}  queue {tags.get(QUEUE_TAG, '-')}")
    if assets:
        print(f"  assets {assets}")
    if run.get("startTime") and run.get("endTime"):
        print(f"  took {run['endTime'] - run['startTime']:.1f}s")
    if run["status"] == "FAILURE" and server is not None:
        failed, retries = failure_details(server, run["runId"])
        for step, message in failed or [("-", "no step failed; see the run's logs in the UI")]:
            print(f"  failed step {step.replace('__', '/')}: {message}")
        for retry in retries:
            print(f"  retried by run {retry['runId']}: {retry['status']}")
        if not retries and tags.get(WILL_RETRY_TAG) == "true":
            print("  a retry will be launched (run_retries)")
        if tags.get(PARENT_RUN_ID_TAG):
            print(f"  this run retried {tags[PARENT_RUN_ID_TAG]}")


def _print_backfill(backfill: dict) -> None:
    runs = backfill["runs"]
    by_status: dict[str, int] = {}
    for run in runs:
        by_status[run["status"]] = by_status.get(run["status"], 0) + 1
    counts = ", ".join(f"{status} {n}" for status, n in sorted(by_status.items())) or "none yet"
    print(
        f"backfill {backfill['id']}: {backfill['status']}  "
        f"({backfill['numPartitions']} partitions, {len(runs)} runs: {counts})"
    )
    for status in (backfill.get("assetBackfillData") or {}).get("assetBackfillStatuses", []):
        if "assetKey" in status:
            print(
                f"  {'/'.join(status['assetKey']['path']):<45} materialized {status['numPartitionsMaterialized']}"
                f"/{status['numPartitionsTargeted']}  failed {status['numPartitionsFailed']}"
            )


def trigger(args: argparse.Namespace) -> int:
    day = parse_date(args.date, "--date") if args.date else None
    server = Webserver(args.url)
    nodes = resolve_assets(server, args.asset)
    check_partition(nodes[0], day)
    tags = {**queue_tags(nodes), "odf/launched_by": "odf-cli", **({"dagster/partition": day} if day else {})}
    run_id = server.launch_assets(nodes, tags)
    print(
        f"launched run {run_id} for {', '.join(n.key for n in nodes)}"
        + (f" [{day}]" if day else "")
        + f" at {server.url}"
    )
    if not args.wait:
        return 0
    progress = Progress()
    run = follow_run(server, run_id, progress, args.timeout)
    _print_run(run, server)
    print("\nSummary:")
    print(progress.summary())
    print(f"\n{progress.verdict()}")
    return 0 if run["status"] == "SUCCESS" and not progress.error_failed else 1


def backfill(args: argparse.Namespace) -> int:
    start, end = parse_date(args.start, "--start"), parse_date(args.end, "--end")
    if end < start:
        raise CommandError(f"--end {end} is before --start {start}")
    server = Webserver(args.url)
    nodes = resolve_assets(server, args.asset)
    for day in (start, end):
        check_partition(nodes[0], day)
    partitions = [key for key in nodes[0].partition_keys if start <= key <= end]
    title = f"odf backfill {start}..{end}"
    backfill_id = server.launch_backfill(
        [n.key for n in nodes], partitions, {**queue_tags(nodes), "odf/launched_by": "odf-cli"}, title
    )
    print(
        f"launched backfill {backfill_id}: {len(partitions)} partitions of "
        f"{', '.join(n.key for n in nodes)} at {server.url}"
    )
    if not args.wait:
        return 0
    state = wait_for(lambda: server.backfill(backfill_id), BACKFILL_DONE, args.timeout, f"backfill {backfill_id}")
    _print_backfill(state)
    return 0 if state["status"] in ("COMPLETED", "COMPLETED_SUCCESS") else 1


def status(args: argparse.Namespace) -> int:
    server = Webserver(args.url)
    run = server.run(args.id)
    if run is not None:
        if args.wait:
            run = wait_for(lambda: server.run(args.id), RUN_DONE, args.timeout, f"run {args.id}")
        _print_run(run, server)
        return 1 if run["status"] in ("FAILURE", "CANCELED") else 0
    backfill_state = server.backfill(args.id)
    if backfill_state is None:
        raise CommandError(f"no run or backfill {args.id!r} at {server.url}")
    if args.wait:
        backfill_state = wait_for(lambda: server.backfill(args.id), BACKFILL_DONE, args.timeout, f"backfill {args.id}")
    _print_backfill(backfill_state)
    return 0 if backfill_state["status"] not in ("FAILED", "COMPLETED_FAILED") else 1


def results(args: argparse.Namespace) -> int:
    day = parse_date(args.date, "--date") if args.date else None
    server = Webserver(args.url)
    missing = []
    for node in resolve_assets(server, args.asset):
        check_partition(node, day)
        event = server.latest_materialization(node.key, day)
        uri = next(
            (e.get("path") or e.get("text") for e in (event or {}).get("metadataEntries", []) if e["label"] == "uri"),
            None,
        )
        if uri is None:
            missing.append(node.key)
            continue
        print(f"{node.key}\t{day or '-'}\t{uri}\t(run {event['runId']})")
    if missing:
        print(
            f"odf results: no stored materialization of {', '.join(missing)}" + (f" for {day}" if day else ""),
            file=sys.stderr,
        )
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        parser.add_argument(
            "--url", default=default_url(), help="Dagster webserver URL (env ODF_DAGSTER_URL, default %(default)s)"
        )
        parser.set_defaults(func=func)
        return parser

    def waiting(parser: argparse.ArgumentParser, what: str) -> None:
        parser.add_argument("--wait", action="store_true", help=f"wait for the {what} to finish; exit 1 if it failed")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait (default %(default)s)")

    assets_help = (
        "asset key(s), comma-separated, e.g. raw/iowa_liquor_sales,aggregates/iowa_liquor_sales/sales_by_county"
    )
    parser = add("trigger", trigger, "Launch one run materializing the given assets for one date on a running Dagster.")
    parser.add_argument("--asset", required=True, help=assets_help)
    parser.add_argument("--date", help="the partition (YYYY-MM-DD); omit for unpartitioned assets")
    waiting(parser, "run, showing per-step progress and a summary (exit 1 also when an ERROR check failed)")
    parser = add(
        "backfill",
        backfill,
        "Launch a backfill of the given assets over a date range (BackfillPolicy decides the runs).",
    )
    parser.add_argument("--asset", required=True, help=assets_help)
    parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", required=True, help="last day, inclusive")
    waiting(parser, "backfill")
    parser = add(
        "status",
        status,
        "Show the status of a run or a backfill; for a failed run, the failing step, its error and the retry run.",
    )
    parser.add_argument("id", help="a run id or a backfill id")
    waiting(parser, "run or backfill")
    parser = add("results", results, "Print the Parquet URI of the latest materialization of asset(s) for a date.")
    parser.add_argument("--asset", required=True, help=assets_help)
    parser.add_argument("--date", help="the partition (YYYY-MM-DD); omit for unpartitioned assets")
