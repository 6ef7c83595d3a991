"""``odf`` entry point: each subcommand lives in its own module with ``register(subparsers)``.

Those modules import only the standard library at the top; Dagster, Polars and HTTP clients are
imported inside the commands. ``odf --help`` imports none of them (``COMMANDS`` holds each one's
help line) and ``odf <command>`` only its own, so both answer in a fraction of a second.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import re
import sys
from collections.abc import Callable
from datetime import date
from typing import NoReturn

from odf_core.text import quote

# Every subcommand: the module that registers it (``register(subparsers)``, setting ``func`` on its
# parser) and its one-line help. ``odf --help`` and ``odf <command>`` import only what they show or
# run; tests/operator/test_tidy.py checks these lines against what the modules register.
COMMANDS = {
    "materialize": (
        "odf_cli.local_run",
        "Materialize assets in-process for a date range and print progress, a summary and the Parquet paths.",
    ),
    "dev": (
        "odf_cli.dev",
        "Start the Dagster UI and daemon (dg dev) on the instance the odf commands use (the project's "
        ".odf/dagster_home unless DAGSTER_HOME is set).",
    ),
    "predictions": (
        "odf_cli.predictions",
        "Show one date's iris items: predicted, rejected or not yet predicted (and why), read from ODF storage.",
    ),
    "submit": (
        "odf_cli.submit",
        "Land iris items (JSON Lines or CSV: id plus the four features) for one date; the landing sensor scores them.",
    ),
    "trigger": ("odf_cli.remote", "Launch one run materializing the given assets for one date on a running Dagster."),
    "backfill": (
        "odf_cli.remote",
        "Launch a backfill of the given assets over a date range (BackfillPolicy decides the runs).",
    ),
    "status": (
        "odf_cli.remote",
        "Show the status of a run or a backfill; for a failed run, the failing step, its error and the retry run.",
    ),
    "results": ("odf_cli.remote", "Print the Parquet URI of the latest materialization of asset(s) for a date."),
}
SUBCOMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand in full; with ``command``, only the module registering it is imported and
    the other subcommands are listed by name and help (enough for usage and errors)."""
    parser = argparse.ArgumentParser(
        prog="odf",
        description="Open Data Factory command line: run assets locally (materialize), start the UI on the same "
        "instance (dev), query predictions, submit items to score, and drive a running Dagster "
        "(trigger, backfill, status, results).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    modules = SUBCOMMAND_MODULES if command is None else [COMMANDS[command][0]] if command in COMMANDS else []
    for module in modules:
        importlib.import_module(module).register(subparsers)
    for name, (_, help_text) in COMMANDS.items():
        if name not in subparsers.choices:
            subparsers.add_parser(name, help=help_text, description=help_text)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the top-level parser's only option is -h)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(_command_in(argv) or "").parse_args(argv)
    except Exception as error:
        # Settings are imported only when needed, so `odf --help` stays light.
        from odf_resources.settings import SettingsError

        if not isinstance(error, SettingsError):
            raise
        print(f"odf: {error}", file=sys.stderr)  # an ODF_* variable ODF cannot use: one line
        return 2
    try:
        # A usage error answers before settings and logging load (a third of a second).
        if (check_arguments := getattr(args, "check_arguments", None)) is not None:
            check_arguments(args)
    except CommandError as error:
        print(f"odf {args.command}: {error}", file=sys.stderr)
        return 2
    from odf_resources.redaction import install_log_redaction
    from odf_resources.settings import SettingsError

    install_log_redaction()
    try:
        from odf_cli.instance import use_project_storage

        use_project_storage()  # one storage per project, whichever folder the command runs in
        return int(args.func(args) or 0)
    except (CommandError, SettingsError) as error:
        print(f"odf {args.command}: {error}", file=sys.stderr)
        return 2


def exit_without_teardown(entry: Callable[[], int | None]) -> NoReturn:
    """Runs ``entry`` and exits with its status, skipping the interpreter's teardown.

    Once Dagster is loaded, freeing every module and object at exit costs 0.5-2 s of CPU (after
    ``import dagster`` alone about 0.7 s) that nobody waits for. The exit still joins non-daemon threads and runs
    every exit handler registered from here on (logging's flush, temporary files' finalizers): this
    one is registered before them, so it runs last, flushes the standard streams and ends the process.
    """
    status = 1  # an exception escaping ``entry`` prints its traceback, then exits 1

    def end_process() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (``odf ... | head``) or stream
                stream.flush()
        os._exit(status)

    atexit.register(end_process)
    try:
        status = int(entry() or 0)
    except SystemExit as stop:  # argparse's --help and usage errors, sys.exit(...)
        status = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        raise
    except KeyboardInterrupt:
        status = 130
        raise
    sys.exit(status)


def run() -> NoReturn:
    """The ``odf`` console script."""
    exit_without_teardown(main)


if __name__ == "__main__":
    run()
