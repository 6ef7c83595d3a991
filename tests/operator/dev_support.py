"""``odf dev`` in a user's working directory, started and stopped like the harness's dagster dev."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.operator.cli_support import BIN
from tests.orchestration.dagster_dev import DagsterDev, _restore_sigint


class OdfDev(DagsterDev):
    def __init__(self, workdir: Path, port: int, env: dict[str, str]):
        super().__init__(workdir / ".odf" / "dagster_home", port, env)
        self.workdir = workdir
        self.log_path = workdir / "odf-dev.log"

    def start(self, timeout: float = 180) -> OdfDev:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "odf"), "dev", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_restore_sigint,
            )
        self._wait_until_loaded(timeout)
        return self

    def stop(self, timeout: float = 30) -> None:
        home = self.home
        self.home = self.workdir / "unused"  # keep the instance: the harness deletes its home
        super().stop(timeout)
        self.home = home
