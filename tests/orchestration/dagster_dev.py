"""A real ``dagster dev`` (webserver + daemon + code server) on a loopback port, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests
import yaml

REPO = Path(__file__).resolve().parents[2]


def instance_yaml() -> str:
    """The repo's local instance (./dagster.yaml: the pool limits, run monitoring, run retries,
    SQLite storage in DAGSTER_HOME) with the queue polled every second and run workers checked every
    two seconds (a killed one is failed within seconds, not ten), so tests do not wait on them."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config.setdefault("run_coordinator", {}).setdefault("config", {})["dequeue_interval_seconds"] = 1
    config.setdefault("run_monitoring", {})["poll_interval_seconds"] = 2
    config.setdefault("telemetry", {"enabled": False})
    return yaml.safe_dump(config, sort_keys=False)


LOCATION_STATUS = """
query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _restore_sigint() -> None:
    # A process started from a non-interactive shell or test runner may inherit SIGINT as ignored;
    # dagster dev then ignores SIGTERM as well, so give it the default handler back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class DagsterDev:
    def __init__(self, home: Path, port: int, env: dict[str, str]):
        self.home, self.port, self.env = home, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = home / "dagster-dev.log"
        self.process: subprocess.Popen | None = None
        self.exited_on_sigint = False
        self.leftovers = 0
        self.leftover_details: list[str] = []

    def start(self, timeout: float = 150) -> DagsterDev:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(instance_yaml())
        command = [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env={**self.env, "DAGSTER_HOME": str(self.home)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_restore_sigint,
            )
        self._wait_until_loaded(timeout)
        return self

    def _wait_until_loaded(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                data = requests.post(f"{self.url}/graphql", json={"query": LOCATION_STATUS}, timeout=5).json()["data"]
                entries = data["workspaceOrError"]["locationEntries"]
                last = str(entries)
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    failed = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                    if failed:
                        raise RuntimeError(f"code location failed to load: {failed}")
                    return
            except (requests.RequestException, KeyError, TypeError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"dagster dev at {self.url} not ready after {timeout}s (last: {last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        """SIGINT to the whole process group (dagster dev shuts its children down), then kill leftovers."""
        if self.process is None:
            return
        group = self.process.pid
        members = self._group_members(group)
        if self.process.poll() is None:
            os.killpg(group, signal.SIGINT)
            try:
                self.process.wait(timeout)
                self.exited_on_sigint = True
            except subprocess.TimeoutExpired:
                pass
        gone, alive = psutil.wait_procs([p for p in members if p.is_running()], timeout=15)
        # A zombie has exited; it only awaits reaping by an ancestor (in containers PID 1 may never
        # reap processes orphaned by a SIGKILLed run worker), so it is no shutdown failure.
        survivors = [p for p in alive if _status(p) != psutil.STATUS_ZOMBIE]
        self.leftovers = len(survivors)
        self.leftover_details = [f"{p.pid} {_status(p)} {' '.join(_cmdline(p))[:200]}" for p in survivors]
        for leftover in alive + self._group_members(group):
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        shutil.rmtree(self.home, ignore_errors=True)

    @staticmethod
    def _group_members(group: int) -> list[psutil.Process]:
        members = []
        for process in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(process.pid) == group:
                    members.append(process)
            except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
                continue
        return members


def _status(process: psutil.Process) -> str:
    try:
        return process.status()
    except psutil.NoSuchProcess:
        return psutil.STATUS_DEAD


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
