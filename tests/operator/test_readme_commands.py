"""README's command blocks run as written: every ``odf`` command in a ```bash block that runs
offline and ends by itself is executed (``uv run`` is the project's environment, so its ``odf``
is called directly), on a project of its own (``ODF_HOME``); each one left out is named with why."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Why a command cannot run here (checked in this order).
NOT_HERE = (
    ("my_sources.yaml", "needs the reader's own registry and its host"),
    ("ODF_STORAGE=s3://", "needs an S3 bucket and credentials"),
    ("helm ", "needs a Kubernetes cluster"),
    ("odf dev", "starts a server that runs until stopped (tests/operator/test_shared_instance.py)"),
    ("pytest", "is the suite itself"),
    ("odf trigger", "needs a running Dagster (tests/operator/test_shared_instance.py)"),
    ("odf backfill", "needs a running Dagster"),
    ("odf status", "needs a running Dagster"),
    ("odf results", "needs a running Dagster"),
    ("odf submit", "needs the reader's file"),
    ("odf predictions", "shows placeholders ([--id a1])"),
)


def readme_commands() -> list[tuple[str, str | None]]:
    """(command, reason it is left out or None) for every command line of README's bash blocks;
    a block's ``export`` lines go with the commands after them."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        exported = ""
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if not command or command.startswith("#"):
                continue
            if command.startswith("export "):
                exported += command + " "
                continue
            whole = exported + command
            found.append((command, next((why for marker, why in NOT_HERE if marker in whole), None)))
    return found


def test_every_offline_readme_command_runs_as_written(tmp_path):
    commands = readme_commands()
    runnable = [command for command, why in commands if why is None]
    left_out = [f"{command}: {why}" for command, why in commands if why is not None]
    print("left out:\n  " + "\n  ".join(left_out))
    assert len(runnable) >= 4, commands  # the quick start and the --select examples on the sample

    project = tmp_path / "project"
    project.mkdir()
    (project / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ODF_", "DAGSTER_HOME"))}
    env["ODF_HOME"] = str(project)
    for command in runnable:
        words = shlex.split(command)
        assert words[:3] == ["uv", "run", "odf"], command
        done = subprocess.run(
            [str(BIN / "odf"), *words[3:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert done.stdout.rstrip().splitlines()[-1].startswith("succeeded"), done.stdout[-2000:]
    # Everything went to the project ODF_HOME names, not to the checkout the commands ran in.
    assert (project / ".odf" / "storage" / "predictions").is_dir()
    assert (project / ".odf" / "dagster_home" / "history").is_dir()
