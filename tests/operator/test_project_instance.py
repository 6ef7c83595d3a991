"""One instance per project wherever ``odf`` runs, and input errors as one line with exit 2, before
Dagster loads when the asset catalog already answers (a wrong ``--select``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.operator.cli_support import odf

REPO = Path(__file__).resolve().parents[2]
DAY = "2024-01-02"


def _env_without_odf() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith(("ODF_", "DAGSTER_HOME"))}


@pytest.mark.slow
def test_odf_from_a_subfolder_uses_the_projects_instance_and_refuses_bad_input_in_one_line(tmp_path):
    project = tmp_path / "project"
    below = project / "notebooks" / "scratch"
    below.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", project / "dagster.yaml")
    (project / "pyproject.toml").write_text('[project]\nname = "my-odf"\n')
    env = _env_without_odf()

    done = odf(below, env, "materialize", "--select", "raw/iowa_liquor_sales", "--start", DAY, "--end", DAY)
    assert done.returncode == 0, done.stdout + done.stderr
    heading = done.stdout.splitlines()[0]
    assert f"instance {project / '.odf' / 'dagster_home'}, storage {project / '.odf' / 'storage'}" in heading
    assert (project / ".odf" / "storage" / "raw" / "iowa_liquor_sales" / f"date={DAY}" / "data.parquet").is_file()
    assert not (below / ".odf").exists() and not (project / "notebooks" / ".odf").exists()

    # A wrong selection is refused from the catalog of the definitions just loaded: Dagster is never imported.
    wrong = odf(below, {**env, "PYTHONPROFILEIMPORTTIME": "1"}, "materialize", "--select", "group:sale")
    lines = wrong.stderr.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
    message = [line for line in lines if not line.startswith("import time:")]
    assert wrong.returncode == 2, wrong.stderr
    assert message == [
        "odf materialize: --select 'group:sale' selects no assets (groups: analysis, predictions, sales); "
        "did you mean group:sales?"
    ]
    assert "odf_cli.main" in imported and "dagster" not in imported and "polars" not in imported

    # ODF_HOME names the project from anywhere: the same catalog answers, with the closest keys.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    typo = odf(elsewhere, {**env, "ODF_HOME": str(project)}, "materialize", "--select", "raw/iowa_liquor_sale+")
    assert typo.returncode == 2 and "did you mean raw/iowa_liquor_sales" in typo.stderr, typo.stderr
    assert not (elsewhere / ".odf").exists()

    # A bad registry: one line naming the file, the key path and what was expected; exit 2, no traceback.
    bad = project / "bad_sources.yaml"
    bad.write_text("sources:\n  - name: permits\n    schema: {fee: decimal}\n")
    broken = odf(below, {**env, "ODF_SOURCES": str(bad)}, "materialize", "--start", DAY, "--end", DAY)
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert broken.stderr.splitlines() == [
        f"odf materialize: {bad}: sources[0] (permits).schema.fee: unknown type 'decimal' "
        "(expected one of ['string', 'int64', 'float64', 'bool', 'date', 'datetime'])"
    ]

    # A DAGSTER_HOME that does not exist: what to do, in one line, before anything loads.
    missing = tmp_path / "no-such-home"
    no_home = odf(below, {**env, "DAGSTER_HOME": str(missing)}, "materialize")
    assert no_home.returncode == 2 and len(no_home.stderr.splitlines()) == 1, no_home.stderr
    assert f"DAGSTER_HOME {missing} does not exist: create it (mkdir -p {missing})" in no_home.stderr
