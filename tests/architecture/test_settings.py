"""Settings are read in one place (the odf_resources/settings package), and resources take operator-set
variables as ``dg.EnvVar``: the UI shows where a value comes from, and a secret is resolved in the
run instead of being stored in the code location's config."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("odf", "odf_assets", "odf_resources", "odf_sensors", "odf_cli", "odf_core")
SETTINGS = ROOT / "odf_resources" / "settings"


def environment_reads(path: Path) -> list[str]:
    """``os.environ.get(...)``, ``os.getenv(...)``, ``os.environ[...]`` reads and ``... in os.environ``."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "getenv" or (node.func.attr == "get" and is_environ(node.func.value)):
                found.append(node.lineno)
        elif (
            isinstance(node, ast.Subscript)
            and is_environ(node.value)
            and isinstance(node.ctx, ast.Load)
            or isinstance(node, ast.Compare)
            and any(is_environ(c) for c in node.comparators)
        ):
            found.append(node.lineno)
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return [f"{name}:{line}" for line in found]


def test_only_the_settings_module_reads_the_environment():
    files = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py")) if SETTINGS not in p.parents]
    offenders = [read for path in files for read in environment_reads(path)]
    assert not offenders, "environment read outside odf_resources/settings/:\n" + "\n".join(offenders)
    assert any(environment_reads(p) for p in SETTINGS.glob("*.py")), "the scan recognises the settings package's reads"


def test_the_scan_recognises_each_way_of_reading(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nos.environ.get('A')\nos.getenv('B')\nos.environ['C']\n'D' in os.environ\nos.environ['E'] = '1'\n"
    )
    assert [line.split(":")[1] for line in environment_reads(sample)] == ["2", "3", "4", "5"]


def _resources(monkeypatch, **env: str) -> dict:
    for name in ("ODF_STORAGE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from odf.definitions import build_definitions

    return build_definitions().resources


def test_operator_set_variables_reach_resources_as_env_vars(monkeypatch, tmp_path):
    resources = _resources(monkeypatch, ODF_STORAGE=str(tmp_path / "store"), SSL_CERT_FILE=str(tmp_path / "ca.pem"))
    storage = resources["odf_storage"]
    assert isinstance(storage.base, dg.EnvVar) and storage.base.env_var_name == "ODF_STORAGE"
    assert isinstance(resources["source_fetcher"].ca_bundle, dg.EnvVar)
    assert resources["source_fetcher"].ca_bundle.env_var_name == "SSL_CERT_FILE"
    # One storage resource: the IO manager nests the very instance assets and sensors take by key.
    assert resources["parquet_io_manager"].storage is storage


def test_unset_variables_leave_plain_defaults(monkeypatch):
    resources = _resources(monkeypatch)
    assert resources["odf_storage"].base == "./.odf/storage" and not isinstance(
        resources["odf_storage"].base, dg.EnvVar
    )
    assert resources["source_fetcher"].ca_bundle == ""
