"""``odf predictions``: one date's iris items (predicted, rejected, not yet predicted), from storage.

Argument handling only; the Polars queries live in ``odf_cli.predictions_query``.
"""

from __future__ import annotations

import argparse
import sys

from odf_cli.main import parse_date

STATUSES = ("predicted", "unpredicted", "rejected", "all")


def _command(args: argparse.Namespace) -> int:
    args.date = parse_date(args.date, "--date")  # the parsed day everywhere below
    from odf_cli.predictions_query import print_frame, query
    from odf_resources import settings
    from odf_resources.storage import storage_from_uri

    storage = storage_from_uri(settings.storage_uri())
    reason = None
    if args.status in ("unpredicted", "all"):
        reason = _pending_reason(args.date)
    _where(storage, args.date)
    frame = query(storage, args.date, args.status, args.id, reason)
    if args.id is not None and frame.is_empty():
        print(
            f"no {args.status if args.status != 'all' else ''} item with id {args.id!r} on {args.date}".replace(
                "  ", " "
            ),
            file=sys.stderr,
        )
        return 1
    print_frame(frame, args.format)
    return 0


def _pending_reason(day: str) -> str:
    import dagster as dg

    from odf_cli.instance import use_local_instance
    from odf_cli.predictions_runs import pending_reason

    home = use_local_instance()
    print(f"runs:        Dagster instance {home}", file=sys.stderr)
    with dg.DagsterInstance.get() as instance:
        return pending_reason(instance, day)


def _where(storage, day: str) -> None:
    """Where the answer comes from, on stderr so csv/jsonl output stays clean."""
    from odf_assets.predictions import landing_keys, store

    print(f"landing:     {storage.uri_for(landing_keys.date_prefix(day))}", file=sys.stderr)
    for label, path in (("predictions", store.PREDICTIONS_PATH), ("rejects", store.REJECTS_PATH)):
        print(f"{label + ':':<12} {storage.uri_for(store.stored_key(path, day))}", file=sys.stderr)


def register(subparsers: argparse._SubParsersAction) -> None:
    text = "Show one date's iris items: predicted, rejected or not yet predicted (and why), read from ODF storage."
    parser = subparsers.add_parser("predictions", help=text, description=text)
    parser.add_argument("--date", required=True, help="the landing date partition, YYYY-MM-DD")
    parser.add_argument("--id", help="only the item with this id")
    parser.add_argument("--status", choices=STATUSES, default="all", help="which items to show (default all)")
    parser.add_argument(
        "--format", choices=("table", "csv", "jsonl"), default="table", help="output format (default table)"
    )
    parser.set_defaults(func=_command)
