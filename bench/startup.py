"""Start-up costs, side by side: Dagster alone, ODF's code location, the ``odf`` CLI, validation, and
one single-partition run through a real ``dagster dev``.

    uv run python -m bench.startup [--repeat 5] [--no-dev-run] [--quick]

Every command runs in a fresh process, in three bytecode layouts, each in a private
``PYTHONPYCACHEPREFIX`` (the result does not depend on the state of ``.venv``; the standard library
stays compiled in all three):

- ``no .pyc``: nothing compiled, where Python cannot write ``.pyc`` files;
- ``project source``: dependencies compiled (what ``uv sync`` leaves with ``UV_COMPILE_BYTECODE=1``,
  as in the image), ODF's own modules not: an image that never compiled the project;
- ``compiled``: dependencies and ODF compiled: a checkout where Python writes its ``.pyc`` files,
  and the image, which compiles the project at build (Dockerfile, tests/deploy/test_image.py).

Medians of ``--repeat`` interleaved rounds (each round runs every command in every layout).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from bench.conditions import describe, emit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_DEFINITIONS_RATIO = 1.25
TARGET_CLI_SECONDS = 0.2
PROJECT_PACKAGES = ("odf", "odf_assets", "odf_resources", "odf_sensors", "odf_cli", "odf_core")
MODES = ("no .pyc", "project source", "compiled")
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


# CPU time (user + system) of each command, beside its wall time: on a shared machine the wall
# time grows with everybody's load, the CPU time barely moves.
CPU_SECONDS: dict[str, dict[str, list[float]]] = {}


def _time(command: list[str], env: dict[str, str], expect: int = 0, record: tuple[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode} (expected {expect}):\n{done.stderr[-2000:]}")
    if record is not None:
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        CPU_SECONDS.setdefault(record[0], {}).setdefault(record[1], []).append(cpu)
    return seconds


def commands(odf: str) -> dict[str, tuple[list[str], int]]:
    python = sys.executable
    return {
        # Both imports end the process without the interpreter's teardown, as ``odf`` does: the teardown's
        # cost depends on how many objects the garbage collector still tracks (ODF freezes its own), and
        # it would otherwise make importing more code look cheaper than importing less.
        "import dagster": ([python, "-c", "import os, dagster; os._exit(0)"], 0),
        "import odf.definitions": ([python, "-c", "import os, odf.definitions; os._exit(0)"], 0),
        "odf --help": ([odf, "--help"], 0),
        "odf materialize --start bad (argument error)": ([odf, "materialize", "--start", "bad"], 2),
        "dagster definitions validate": (
            [str(BIN / "dagster"), "definitions", "validate", "-m", "odf.definitions"],
            0,
        ),
    }


def _without_project(compiled: Path, target: Path) -> None:
    """A copy of the compiled prefix without ODF's own bytecode."""
    shutil.copytree(compiled, target)
    for package in PROJECT_PACKAGES:
        shutil.rmtree(target / ROOT.relative_to(ROOT.anchor) / package, ignore_errors=True)


def project_sources() -> dict[str, tuple[int, int]]:
    """(modification time, size) of every ODF source file: what a ``.pyc`` is checked against."""
    sources = {}
    for package in PROJECT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            stat = path.stat()
            sources[str(path.relative_to(ROOT))] = (stat.st_mtime_ns, stat.st_size)
    return sources


def refuse_changed_sources(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> None:
    """A source edited (or only touched) during the run makes its ``.pyc`` stale: the compiled
    layout then compiles that module on every import, like the uncompiled one, and the ratio it
    reports describes neither. Such a run is refused rather than printed."""
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise SystemExit(
            f"ODF's sources changed during the measurement ({shown}): the compiled layout's .pyc files "
            "went stale, so its timings are not those of compiled code. Run again on a checkout nobody edits."
        )


def measure_processes(repeat: int, workdir: Path, quick: bool = False) -> dict[str, dict[str, float]]:
    """Median of ``repeat`` per command and layout, rounds interleaved so every command and layout
    meets the same load on a shared machine."""
    sources_before = project_sources()
    cold, warm, source = workdir / "no-pyc", workdir / "compiled", workdir / "project-source"
    for prefix in (cold, warm):
        _stdlib_prefix(prefix)
    home = {"DAGSTER_HOME": str(_home(workdir))}  # validation needs an instance; an empty one
    todo = commands(str(BIN / "odf"))
    if quick:
        todo = {name: todo[name] for name in ("import dagster", "import odf.definitions", "odf --help")}
    for command, expect in todo.values():
        _time(command, {**_env(warm, write=True), **home}, expect)  # compiles into the warm prefix
    _without_project(warm, source)
    layouts = {"no .pyc": cold, "project source": source, "compiled": warm}
    if quick:  # the smoke run skips the slowest layout: compiling all of Dagster on every import
        del layouts["no .pyc"]
    samples: dict[str, dict[str, list[float]]] = {name: {mode: [] for mode in layouts} for name in todo}
    uv = None if quick else shutil.which("uv") or shutil.which("uv", path=str(Path.home() / ".local/bin"))
    for round_number in range(repeat):
        names = list(todo)
        names = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in names:
            command, expect = todo[name]
            for mode, prefix in layouts.items():
                samples[name][mode].append(
                    _time(command, {**_env(prefix, write=False), **home}, expect, record=(name, mode))
                )
        if uv:
            # `uv run` checks that the environment is in sync before it starts the command.
            samples.setdefault("uv run odf --help", {"compiled": []})["compiled"].append(
                _time([uv, "run", "odf", "--help"], dict(os.environ))
            )
    refuse_changed_sources(sources_before, project_sources())
    return {
        name: {mode: statistics.median(values) for mode, values in modes.items() if values}
        for name, modes in samples.items()
    }


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
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds; the median is printed")
    parser.add_argument("--no-dev-run", action="store_true", help="skip the dagster dev run")
    parser.add_argument("--quick", action="store_true", help="imports and --help only, one round (CI smoke run)")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    conditions = describe()
    with tempfile.TemporaryDirectory(prefix="odf-bench-startup-", dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
        workdir = Path(tmp)
        processes = measure_processes(repeat, workdir, quick=args.quick)
        dev = {} if args.no_dev_run or args.quick else measure_dev_run(workdir)
    print(f"\n{'process (fresh, median of ' + str(repeat) + ')':<52}" + "".join(f" {mode:>15}" for mode in MODES))
    for name, modes in processes.items():
        cells = "".join(f" {modes[mode]:>14.2f}s" if mode in modes else f" {'-':>15}" for mode in MODES)
        print(f"{name:<52}{cells}")
    cpu = {name: {mode: statistics.median(v) for mode, v in modes.items()} for name, modes in CPU_SECONDS.items()}
    print(f"\n{'CPU time (user + system, median)':<52}" + "".join(f" {mode:>15}" for mode in MODES))
    for name, modes in cpu.items():
        print(f"{name:<52}" + "".join(f" {modes[mode]:>14.2f}s" if mode in modes else f" {'-':>15}" for mode in MODES))
    measured = [mode for mode in MODES if mode in processes["import dagster"]]
    ratios = {mode: processes["import odf.definitions"][mode] / processes["import dagster"][mode] for mode in measured}
    cpu_ratios = {mode: cpu["import odf.definitions"][mode] / cpu["import dagster"][mode] for mode in measured}
    cli_cpu = max(modes["compiled"] for name, modes in cpu.items() if name.startswith("odf "))
    cli = max(modes["compiled"] for name, modes in processes.items() if name.startswith("odf "))
    met = ratios["compiled"] <= TARGET_DEFINITIONS_RATIO
    print(
        "\ndefinitions / dagster: "
        + ", ".join(f"{ratios[mode]:.2f}x {mode}" for mode in measured)
        + f" (target ≤ {TARGET_DEFINITIONS_RATIO}x compiled, as in the "
        "image and a checkout that writes .pyc): "
        + ("met" if met else "NOT met")
        + "; by CPU time: "
        + ", ".join(f"{cpu_ratios[mode]:.2f}x {mode}" for mode in measured)
    )
    print(
        f"odf CLI without the code location (--help, argument error): {cli:.2f}s (target ≤ {TARGET_CLI_SECONDS}s): "
        + ("met" if cli <= TARGET_CLI_SECONDS else "NOT met")
        + f"; {cli_cpu:.2f}s of CPU"
    )
    if dev:
        print()
        for name, seconds in dev.items():
            print(f"{name:<60} {seconds:>7.2f}s")
    result = {"bench": "startup", **conditions, "repeat": repeat, "processes": processes, "ratios": ratios}
    result |= {"cli_seconds": cli, "dev": dev, "cpu_seconds": cpu, "cpu_ratios": cpu_ratios, "cli_cpu_seconds": cli_cpu}
    emit(result)
    return result


if __name__ == "__main__":
    main()
