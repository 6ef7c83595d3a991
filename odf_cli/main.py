"""``odf`` entry point: each subcommand lives in its own module with ``register(subparsers)``.

Those modules import only the standard library at the top; Dagster, Polars and HTTP clients are
imported inside the commands, so ``odf --help`` and argument errors answer in a fraction of a second.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from datetime import date

from odf_core.text import quote

# Modules providing subcommands; each defines register(subparsers) and sets func on its parser.
SUBCOMMAND_MODULES = ("odf_cli.local_run", "odf_cli.dev", "odf_cli.predictions", "odf_cli.submit", "odf_cli.remote")


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def parse_date(value: str, flag: str) -> str:
    """``value`` as an ISO day, or a CommandError naming ``flag``. Only ``YYYY-MM-DD``: Python also
    reads ``20240501`` or ``2024-W18-3``, which would name no partition folder as typed."""
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise CommandError(f"{flag} {quote(value)} is not a date (expected YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odf",
        description="Open Data Factory command line: run assets locally (materialize), start the UI on the same "
        "instance (dev), query predictions, submit items to score, and drive a running Dagster "
        "(trigger, backfill, status, results).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from odf_resources.redaction import install_log_redaction

    install_log_redaction()
    try:
        from odf_cli.instance import use_project_storage

        use_project_storage()  # one storage per project, whichever folder the command runs in
        return int(args.func(args) or 0)
    except CommandError as error:
        print(f"odf {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
