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
    frame = query(storage, args.date, args.status, args.id)
    if args.id is not None and frame.is_empty():
        print(f"no {args.status if args.status != 'all' else ''} item with id {args.id!r} on {args.date}".replace("  ", " "), file=sys.stderr)
        return 1
    print_frame(frame, args.format)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    text = "Show one date's iris items: predicted, rejected or not yet predicted (and why), read from ODF storage."
    parser = subparsers.add_parser("predictions", help=text, description=text)
    parser.add_argument("--date", required=True, help="the landing date partition, YYYY-MM-DD")
    parser.add_argument("--id", help="only the item with this id")
    parser.add_argument("--status", choices=STATUSES, default="all", help="which items to show (default all)")
    parser.add_argument("--format", choices=("table", "csv", "jsonl"), default="table", help="output format (default table)")
    parser.set_defaults(func=_command)
