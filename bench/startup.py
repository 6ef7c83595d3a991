"""Start-up costs, side by side: Dagster alone, ODF's code location, the ``odf`` CLI, validation, and
one single-partition run through a real ``dagster dev``.

    uv run python -m bench.startup [--repeat 3] [--no-dev-run]

Every command runs in a fresh process, twice over: with no bytecode for installed packages (what
an environment nobody compiled costs where Python cannot write ``.pyc`` files, e.g. with
PYTHONDONTWRITEBYTECODE) and compiled (what ``uv sync`` leaves with ``[tool.uv] compile-bytecode``).
Both use a private ``PYTHONPYCACHEPREFIX``, so the result does not depend on the state of ``.venv``;
the standard library stays compiled in both. Best of ``--repeat`` interleaved runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_DEFINITIONS_RATIO = 1.3
TARGET_CLI_SECONDS = 0.5
DEV_PARTITION = "2024-01-05"
DEV_ASSET = "raw/iowa_liquor_sales"


def _stdlib_prefix(prefix: Path) -> None:
    """Copies the interpreter's compiled standard library into ``prefix``'s layout."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for cache in stdlib.rglob("__pycache__"):
        if "site-packages" in cache.parts:
            continue
        target = prefix / cache.parent.relative_to(cache.parent.anchor)
        target.mkdir(parents=True, exist_ok=True)
        for pyc in cache.glob("*.cpython-*.pyc"):
            if ".opt-" not in pyc.name:
                shutil.copy2(pyc, target / pyc.name)


def _env(prefix: Path, write: bool) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(prefix)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _time(command: list[str], env: dict[str, str], expect: int = 0) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode} (expected {expect}):\n{done.stderr[-2000:]}")
    return seconds


def commands(odf: str) -> dict[str, tuple[list[str], int]]:
    python = sys.executable
    return {
        "import dagster": ([python, "-c", "import dagster"], 0),
        "import odf.definitions": ([python, "-c", "import odf.definitions"], 0),
        "odf --help": ([odf, "--help"], 0),
        "odf materialize --start bad (argument error)": ([odf, "materialize", "--start", "bad"], 2),
        "dagster definitions validate": (
            [str(BIN / "dagster"), "definitions", "validate", "-m", "odf.definitions"],
            0,
        ),
    }


def measure_processes(repeat: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Best of ``repeat`` per command and mode, rounds interleaved: on a shared machine the minimum
    is the run least disturbed by other load, and interleaving exposes every command to the same load."""
    cold, warm = workdir / "no-pyc", workdir / "compiled"
    for prefix in (cold, warm):
        _stdlib_prefix(prefix)
    home = {"DAGSTER_HOME": str(_home(workdir))}  # validation needs an instance; an empty one
    todo = commands(str(BIN / "odf"))
    for command, expect in todo.values():
        _time(command, {**_env(warm, write=True), **home}, expect)  # compiles into the warm prefix
    samples: dict[str, dict[str, list[float]]] = {name: {"no .pyc": [], "compiled": []} for name in todo}
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local/bin"))
    for _ in range(repeat):
        for name, (command, expect) in todo.items():
            for mode, prefix in (("no .pyc", cold), ("compiled", warm)):
                samples[name][mode].append(_time(command, {**_env(prefix, write=False), **home}, expect))
        if uv:
            # `uv run` syncs first; with compile-bytecode set it re-checks every installed file's bytecode.
            samples.setdefault("uv run odf --help", {"compiled": []})["compiled"].append(
                _time([uv, "run", "odf", "--help"], dict(os.environ))
            )
    return {name: {mode: min(values) for mode, values in modes.items() if values} for name, modes in samples.items()}


def _home(workdir: Path) -> Path:
    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)
    return home


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure_dev_run(workdir: Path) -> dict[str, float]:
    """One single-partition run launched through GraphQL on a real ``dagster dev``: launch → SUCCESS."""
    sys.path.insert(0, str(ROOT))
    from odf_cli.graphql import Webserver
    from tests.orchestration.dagster_dev import DagsterDev

    env = {**os.environ, "ODF_STORAGE": str(workdir / "storage")}
    started = time.perf_counter()
    dev = DagsterDev(workdir / "dev_home", _free_port(), env).start()
    loaded = time.perf_counter() - started
    try:
        server = Webserver(dev.url)
        node = server.asset_nodes([DEV_ASSET])[DEV_ASSET]
        launched = time.time()
        run_id = server.launch_assets([node], {"dagster/partition": DEV_PARTITION})
        while (run := server.run(run_id))["status"] not in ("SUCCESS", "FAILURE", "CANCELED"):
            time.sleep(0.1)
        finished = time.time()
        if run["status"] != "SUCCESS":
            raise SystemExit(f"run {run_id} ended {run['status']}:\n{dev.log_tail()}")
        events, _, _ = server.run_events(run_id, None)
        stamps = {}
        for event in events:
            stamps.setdefault(event.get("eventType"), float(event["timestamp"]) / 1000)
    finally:
        dev.stop()
    return {
        "dagster dev: start until the code location is loaded": loaded,
        "run: launch → run worker started (RUN_START)": stamps["RUN_START"] - launched,
        "run: launch → first step started (step start latency)": stamps["STEP_START"] - launched,
        "run: launch → SUCCESS (wall time)": finished - launched,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command and mode; the fastest is printed")
    parser.add_argument("--no-dev-run", action="store_true", help="skip the dagster dev run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="odf-bench-startup-", dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
        workdir = Path(tmp)
        processes = measure_processes(args.repeat, workdir)
        dev = {} if args.no_dev_run else measure_dev_run(workdir)
    print(f"\n{'process (fresh, best of ' + str(args.repeat) + ')':<52} {'no .pyc':>9} {'compiled':>9}")
    for name, modes in processes.items():
        cells = "".join(f" {modes[mode]:>8.2f}s" if mode in modes else f" {'-':>9}" for mode in ("no .pyc", "compiled"))
        print(f"{name:<52}{cells}")
    ratios = {
        mode: processes["import odf.definitions"][mode] / processes["import dagster"][mode]
        for mode in ("no .pyc", "compiled")
    }
    cli = max(
        processes["odf --help"]["compiled"], processes["odf materialize --start bad (argument error)"]["compiled"]
    )
    print(
        f"\ndefinitions / dagster: {ratios['no .pyc']:.2f}x without .pyc, {ratios['compiled']:.2f}x compiled "
        f"(target ≤ {TARGET_DEFINITIONS_RATIO}x): "
        + ("met" if ratios["compiled"] <= TARGET_DEFINITIONS_RATIO else "NOT met")
    )
    print(
        f"odf --help / argument error: {cli:.2f}s (target ≤ {TARGET_CLI_SECONDS}s): "
        + ("met" if cli <= TARGET_CLI_SECONDS else "NOT met")
    )
    if dev:
        print()
        for name, seconds in dev.items():
            print(f"{name:<60} {seconds:>7.2f}s")
    return {"processes": processes, "ratios": ratios, "dev": dev}


if __name__ == "__main__":
    main()
