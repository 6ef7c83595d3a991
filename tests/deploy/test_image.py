"""The user-code image: Dockerfile layering, and the code server command the chart runs in it."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from dagster._grpc.client import DagsterGrpcClient
from dagster._serdes import deserialize_value

from tests.deploy.deploy_config import HELM_VALUES, ROOT, USER_CODE_IMAGE, load_yaml
from tests.support.servers import clean_env, free_port

DOCKERFILE = ROOT / "Dockerfile"
DAGSTER = str(Path(sys.executable).parent / "dagster")


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())  # join continued lines
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def index_of(steps: list[tuple[str, str]], keyword: str, needle: str) -> int:
    matches = [i for i, (kw, arg) in enumerate(steps) if kw == keyword and needle in arg]
    assert len(matches) == 1, f"expected one {keyword} containing {needle!r}, found {len(matches)}"
    return matches[0]


def test_dockerfile_installs_locked_dependencies_in_a_cached_layer_before_the_project():
    steps = instructions()
    lock_copy = index_of(steps, "COPY", "pyproject.toml uv.lock")
    deps = index_of(steps, "RUN", "uv sync --frozen --no-install-project --no-dev")
    project_copy = index_of(steps, "COPY", ". .")
    project = [
        i
        for i, (kw, arg) in enumerate(steps)
        if kw == "RUN" and "uv sync --frozen --no-dev" in arg and "--no-install-project" not in arg
    ]
    assert lock_copy < deps < project_copy < project[0], steps

    base = steps[0][1]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert re.match(r"python:3\.11-", base) and requires == ">=3.11", base
    # The numeric user is what lets Kubernetes enforce runAsNonRoot with the uid the values use.
    [user] = [arg for kw, arg in steps if kw == "USER"]
    [deployment] = load_yaml(HELM_VALUES)["dagster-user-deployments"]["deployments"]
    assert user.split(":")[0] == str(deployment["podSecurityContext"]["runAsUser"])

    ignored = set((ROOT / ".dockerignore").read_text().split())
    # Local SQLite instances (.dagster) and data (.odf) never enter the image.
    assert {".git", ".venv", ".odf", ".dagster"} <= ignored
    # The build needs these; pods read deploy/kubeconfig-in-cluster.yaml from the image.
    assert not {"pyproject.toml", "uv.lock", "README.md", "odf_assets", "deploy"} & ignored


def test_dockerfile_compiles_the_projects_own_modules_after_installing_them(tmp_path):
    """The project is installed editable and UV_COMPILE_BYTECODE compiles only dependencies; pods cannot
    write .pyc files over the root-owned /opt/odf, so the image compiles ODF's packages at build."""
    steps = instructions()
    project = max(i for i, (kw, arg) in enumerate(steps) if kw == "RUN" and "uv sync --frozen --no-dev" in arg)
    compile_step = index_of(steps, "RUN", "-m compileall")
    assert project < compile_step < index_of(steps, "USER", "10001"), steps
    command = steps[compile_step][1].split()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "packages"
    ]
    assert set(command[command.index("-q") + 1 :]) == set(packages), command
    # Run the step as written (with this environment's interpreter) on a copy of the packages, as in
    # /opt/odf: every module gets the bytecode the image's Python reads.
    for package in packages:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in clean_env().items() if k not in ("PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, env=env, check=True)
    modules = [path for package in packages for path in (tmp_path / package).rglob("*.py")]
    assert len(modules) > 40
    missing = [str(path) for path in modules if not Path(importlib.util.cache_from_source(str(path))).is_file()]
    assert not missing, missing


@pytest.mark.timeout(120)
def test_code_server_command_from_the_chart_serves_odf(tmp_path):
    """Runs the chart's `dagster api grpc ... -m odf.definitions` (on loopback) and queries it."""
    [deployment] = load_yaml(HELM_VALUES)["dagster-user-deployments"]["deployments"]
    port = free_port()
    env = clean_env(DAGSTER_CURRENT_IMAGE=USER_CODE_IMAGE, ODF_STORAGE=str(tmp_path / "storage"))
    server = subprocess.Popen(
        [DAGSTER, "api", "grpc", "-h", "127.0.0.1", "-p", str(port), *deployment["dagsterApiGrpcArgs"]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + 90
        while client.health_check_query() != "SERVING":
            assert server.poll() is None, f"code server exited: {server.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "code server not healthy within 90s"
            time.sleep(0.5)
        # The startup and liveness probes of helm/values.yaml (and the chart's readiness probe) agree;
        # run in the pod, they reach the server on localhost.
        commands = {tuple(deployment[name]["exec"]["command"]) for name in ("startupProbe", "livenessProbe")}
        for command in commands:  # one run per distinct command: each CLI start costs seconds
            assert command[:4] == ("dagster", "api", "grpc-health-check", "-p")
            assert command[4:] == (str(deployment["port"]),), command
            probe = subprocess.run([DAGSTER, *command[1:-1], str(port)], capture_output=True, env=env, timeout=60)
            assert probe.returncode == 0, (command, probe.stderr)
        assert deployment["startupProbe"]["enabled"] is True

        # Runs launched from this location use this image (K8sRunLauncher leaves job_image unset).
        assert deserialize_value(client.get_current_image()).current_image == USER_CODE_IMAGE
        listed = deserialize_value(client.list_repositories())
        assert listed.container_image == USER_CODE_IMAGE
        assert [symbol.repository_name for symbol in listed.repository_symbols] == ["__repository__"]
        client.shutdown_server()
        server.wait(30)
        # A stopped server fails the liveness probe: the kubelet restarts the container.
        command = deployment["livenessProbe"]["exec"]["command"]
        dead = subprocess.run([DAGSTER, *command[1:-1], str(port)], capture_output=True, env=env, timeout=60)
        assert dead.returncode != 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
