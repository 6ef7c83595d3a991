"""The same input gives byte-identical Parquet: the default pipeline run twice, compared by sha256."""

import hashlib
from pathlib import Path

import dagster as dg

from odf_cli.local_run import materialize

# Two whole Monday-start weeks, so the weekly assets are written too.
START, END = "2024-01-01", "2024-01-14"


def parquet_digests(storage: Path) -> dict[str, str]:
    return {
        str(path.relative_to(storage)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(storage.rglob("*.parquet"))
    }


def test_default_pipeline_rerun_writes_byte_identical_parquet(tmp_path, monkeypatch):
    digests = []
    for attempt in ("first", "second"):
        storage = tmp_path / attempt
        monkeypatch.setenv("ODF_STORAGE", str(storage))
        written = materialize(START, END, dg.DagsterInstance.ephemeral(), log_level="WARNING")
        assert "analysis/summary" in written and "sales/weekly_sales" in written
        digests.append(parquet_digests(storage))
    first, second = digests
    assert len(first) > 100  # every daily and weekly asset, one file per partition
    assert first.keys() == second.keys()
    differing = sorted(path for path in first if first[path] != second[path])
    assert not differing, f"{len(differing)} Parquet file(s) differ between identical runs, e.g. {differing[:5]}"
