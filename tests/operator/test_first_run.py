"""The first ``uv run`` off a terminal: uv installs into a fresh environment and says so, with no
silent step after it. (The project used to ask uv to compile every installed file to bytecode: four
minutes with no output in a CI log; README, "The first run", has the measurements.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]


def test_first_sync_installs_without_a_silent_bytecode_step(tmp_path):
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv on PATH (README's test command is `uv run pytest`, which provides it)")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "VIRTUAL_ENV"))}
    env["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / "venv")
    # What `uv run` does before its command on a fresh checkout, from the cache the suite's own sync filled.
    done = subprocess.run(
        [uv, "sync", "--frozen", "--offline", "--no-install-project"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert "Installed" in output and "packages" in output, output[-2000:]
    # The step that printed nothing for minutes off a terminal is gone.
    assert "Bytecode compiled" not in output, output[-2000:]
