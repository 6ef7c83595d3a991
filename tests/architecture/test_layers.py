"""The dependency rule: plain library code (``odf_core``) ← ``odf_resources`` ← domains (``odf_assets``)
← orchestration (``odf_sensors``) ← the composition root (``odf``) and the ``odf`` CLI (``odf_cli``).

Every import statement counts, including those inside functions (a lazy import is still an arrow),
so a module never reaches up a layer, and the root is the only place that knows every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each package and the packages it must never import.
FORBIDDEN = {
    "odf_core": {"odf_resources", "odf_assets", "odf_sensors", "odf_cli", "odf"},
    "odf_resources": {"odf_assets", "odf_sensors", "odf_cli", "odf"},
    "odf_assets": {"odf_sensors", "odf_cli", "odf"},
    "odf_sensors": {"odf_cli", "odf"},
    "odf": {"odf_cli"},
    "odf_cli": set(),
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def upward_imports(package: str) -> list[str]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} was found"
    return [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in files
        for line, target in imported_packages(path)
        if target in FORBIDDEN[package]
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_a_layer_above_it(package):
    offenders = upward_imports(package)
    assert not offenders, "imports against the layer rule:\n" + "\n".join(offenders)


def test_only_the_root_and_the_cli_know_the_composition_root():
    """Nothing but the CLI (which runs the code location locally) imports ``odf.definitions``."""
    users = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in ("odf_core", "odf_resources", "odf_assets", "odf_sensors")
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, target in imported_packages(path)
        if target == "odf"
    ]
    assert not users


def test_the_scan_sees_lazy_and_dotted_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import odf_sensors.landing\n\ndef f():\n    from odf_cli.main import main\n    from . import x\n"
    )
    assert imported_packages(sample) == [(1, "odf_sensors"), (4, "odf_cli")]


# Inside the sources domain the main data path runs one way: acquisition → staging → row reports
# and file parsing. Parsing modules never call back into the modules that use them.
PARSING_MODULES = ("source_files", "file_limits", "csv_rows")
STAGING_MODULES = ("acquisition", "staging", "row_reports")


def test_file_parsing_never_imports_staging():
    sources = ROOT / "odf_assets" / "sources"
    offenders = []
    for name in PARSING_MODULES:
        path = sources / f"{name}.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {module}"
                for module in modules
                if module in {f"odf_assets.sources.{staging}" for staging in STAGING_MODULES}
            ]
    assert not offenders, "file parsing imports the staging that calls it:\n" + "\n".join(offenders)
