"""``odf dev``: the Dagster UI and daemon (``dg dev``, Dagster's current CLI) on the same instance as
the ``odf`` commands, started in the project's folder wherever ``odf dev`` is run from.

Its output is ``dg dev``'s, minus the daemon's per-tick lines ("Checking for new runs for
sensor", "No run requests returned", the automation sensor's bookkeeping): Dagster logs every tick
at INFO, which buries everything else (``--verbose`` keeps them).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
from pathlib import Path

from odf_cli.instance import describe, project_root, use_local_instance

TICK_LINES = (
    "Checking for new runs for sensor:",
    "No run requests returned for",
    "Checking for new runs for the following schedules",
    "No new tick times to evaluate for",
    # We put the checkout's dagster.yaml into DAGSTER_HOME ourselves; the warning would say otherwise.
    "Found a dagster instance configuration value",
)


# The automation sensor's bookkeeping on every tick; a tick that launches runs still shows.
_QUIET_AUTOMATION = re.compile(
    r"AssetDaemon - .*(Prefetching asset records|Done prefetching|Checking \d+ assets/checks|Tick produced 0 runs"
    r"|Submitting 0 runs|Finished auto-materialization tick|Adding \d+ asset evaluations)"
)


def is_tick_line(line: str) -> bool:
    # A sensor's skip reason is also logged on every tick it has nothing to do.
    return (
        any(marker in line for marker in TICK_LINES)
        or ("SensorDaemon" in line and " skipped: " in line)
        or _QUIET_AUTOMATION.search(line) is not None
    )


def dev_command(args: argparse.Namespace) -> int:
    home = use_local_instance()
    root = project_root()
    # An explicit target makes `dg dev` start Dagster's webserver and daemon directly (no `dg` project
    # needed, e.g. outside the checkout); `dagster dev` would print that it is superseded by `dg dev`.
    target = ["-w", "workspace.yaml"] if (root / "workspace.yaml").is_file() else ["-m", "odf.definitions"]
    extra = args.dagster_args[1:] if args.dagster_args[:1] == ["--"] else args.dagster_args
    dg_script = Path(sys.executable).with_name("dg")
    command = [str(dg_script), "dev", *target, "-h", args.host, "-p", str(args.port), *extra]
    print(
        f"odf dev: {describe(home)} (runs of `odf materialize` show here); UI at http://{args.host}:{args.port}",
        flush=True,
    )
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=root,
        text=True,
        errors="replace",
        bufsize=1,
        # Started in the background, odf inherits SIGINT ignored; dg dev must not, or it never stops.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Ctrl-C reaches dg dev directly (same process group) and it shuts its children down;
    # a SIGTERM to odf is passed on as that same interrupt. odf waits and relays the output.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGINT))
    for line in child.stdout:
        if args.verbose or not is_tick_line(line):
            sys.stdout.write(line)
            sys.stdout.flush()
    return child.wait()


def register(subparsers: argparse._SubParsersAction) -> None:
    text = (
        "Start the Dagster UI and daemon (dg dev) on the instance the odf commands use "
        "(the project's .odf/dagster_home unless DAGSTER_HOME is set)."
    )
    parser = subparsers.add_parser("dev", help=text, description=text)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="port (default %(default)s)")
    parser.add_argument(
        "--verbose", action="store_true", help="also show the daemon's line for every sensor and schedule tick"
    )
    parser.add_argument("dagster_args", nargs=argparse.REMAINDER, help="further `dg dev` options, after --")
    parser.set_defaults(func=dev_command)
