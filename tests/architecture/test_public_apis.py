"""ODF's packages use Dagster's public API only: private modules change without notice between
minor releases, and ODF pins a minor line, not a patch."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("odf", "odf_assets", "odf_resources", "odf_sensors", "odf_cli", "odf_core")
# The one exception, kept to one module: Dagster's public API resolves every asset job against the
# whole asset graph, which makes one job per source quadratic in the registry. scoped_jobs.py hands
# Dagster's own resolution a smaller graph; tests/orchestration/test_schedules.py checks that what it
# resolves equals what dg.define_asset_job resolves, so a Dagster change that breaks it fails there.
ALLOWED = {
    "odf_sensors/scoped_jobs.py": {
        "dagster._core.definitions.assets.graph.asset_graph",
        "dagster._core.definitions.unresolved_asset_job_definition",
    }
}


def private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        private = [
            name
            for name in names
            if name.split(".")[0].startswith("dagster") and any(p.startswith("_") for p in name.split(".")[1:])
        ]
        found += [f"{path.name}:{node.lineno} {name}" for name in private]
    return found


def test_no_module_imports_a_private_dagster_module():
    files = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    assert len(files) > 40, "the packages were found"
    offenders = [
        line
        for path in files
        for line in private_imports(path)
        if line.split(" ", 1)[1] not in ALLOWED.get(path.relative_to(ROOT).as_posix(), ())
    ]
    assert not offenders, "private Dagster imports:\n" + "\n".join(offenders)


def test_the_scan_recognises_a_private_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from dagster._core.storage.tags import PARTITION_NAME_TAG\nimport dagster_k8s._private\nimport dagster\n"
    )
    assert [line.split(" ", 1)[1] for line in private_imports(sample)] == [
        "dagster._core.storage.tags",
        "dagster_k8s._private",
    ]
