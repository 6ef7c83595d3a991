"""``odf dev``: the Dagster UI and daemon (``dagster dev``) on the same instance as the ``odf`` commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from odf_cli.instance import use_local_instance


def dev_command(args: argparse.Namespace) -> int:
    home = use_local_instance()
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").is_file() else ["-m", "odf_assets.definitions"]
    extra = args.dagster_args[1:] if args.dagster_args[:1] == ["--"] else args.dagster_args
    command = [sys.executable, "-m", "dagster", "dev", *target, "-h", args.host, "-p", str(args.port), *extra]
    print(f"odf dev: instance {home} (runs of `odf materialize` show here); UI at http://{args.host}:{args.port}", flush=True)
    # exec: Ctrl-C and SIGTERM reach dagster dev directly, which shuts its children down.
    os.execv(sys.executable, command)
    return 0  # not reached


def register(subparsers: argparse._SubParsersAction) -> None:
    text = "Start the Dagster UI and daemon (dagster dev) on the instance the odf commands use (.odf/dagster_home unless DAGSTER_HOME is set)."
    parser = subparsers.add_parser("dev", help=text, description=text)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="port (default %(default)s)")
    parser.add_argument("dagster_args", nargs=argparse.REMAINDER, help="further `dagster dev` options, after --")
    parser.set_defaults(func=dev_command)
