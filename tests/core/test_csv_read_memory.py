"""The CSV chunk-size bound ODF gives Polars before scanning, and how an operator overrides it."""

import os
import subprocess
import sys

import polars as pl
import pytest

from odf_assets.sources.source_files import scan_source_file
from odf_resources.polars_tuning import POLARS_CSV_CHUNK_VARIABLE, bound_csv_read_memory
from odf_resources.settings import DEFAULT_CSV_READ_CHUNK_BYTES


@pytest.fixture(autouse=True)
def no_chunk_setting(monkeypatch):
    # Only this test's changes to the variables; monkeypatch restores the process's own values.
    monkeypatch.delenv(POLARS_CSV_CHUNK_VARIABLE, raising=False)
    monkeypatch.delenv("ODF_CSV_READ_CHUNK_BYTES", raising=False)


def test_scanning_a_csv_source_sets_odf_chunk_size_and_reads_every_row(tmp_path):
    path = tmp_path / "day.csv"
    pl.DataFrame({"a": [str(i) for i in range(5000)], "b": ["x"] * 5000}).write_csv(path)
    frame = scan_source_file(path, "csv", "demo partition 2024-01-01").collect(engine="streaming")
    assert os.environ[POLARS_CSV_CHUNK_VARIABLE] == str(DEFAULT_CSV_READ_CHUNK_BYTES) == str(1 << 20)
    assert frame.height == 5000 and frame["a"].to_list()[-1] == "4999"


def test_operator_values_win(monkeypatch):
    monkeypatch.setenv(POLARS_CSV_CHUNK_VARIABLE, "1048576")
    bound_csv_read_memory()
    assert os.environ[POLARS_CSV_CHUNK_VARIABLE] == "1048576"
    monkeypatch.delenv(POLARS_CSV_CHUNK_VARIABLE)
    monkeypatch.setenv("ODF_CSV_READ_CHUNK_BYTES", "0")
    bound_csv_read_memory()
    assert POLARS_CSV_CHUNK_VARIABLE not in os.environ, "0 leaves Polars' own default"
    monkeypatch.setenv("ODF_CSV_READ_CHUNK_BYTES", "8388608")
    bound_csv_read_memory()
    assert os.environ[POLARS_CSV_CHUNK_VARIABLE] == "8388608"


def test_bad_setting_is_named_with_what_was_expected(monkeypatch):
    monkeypatch.setenv("ODF_CSV_READ_CHUNK_BYTES", "4MB")
    with pytest.raises(ValueError, match=r"ODF_CSV_READ_CHUNK_BYTES='4MB': expected a whole number of bytes"):
        bound_csv_read_memory()


def test_setting_applies_before_polars_first_csv_scan_in_a_fresh_process(tmp_path):
    # Polars reads the variable once per process, at its first CSV scan: ODF must set it first.
    path = tmp_path / "day.csv"
    path.write_text("a\n1\n")
    code = (
        "import os, sys; from pathlib import Path; from odf_assets.sources.source_files import scan_source_file; "
        "assert 'POLARS_CSV_CHUNK_SIZE' not in os.environ; "
        f"scan_source_file(Path({str(path)!r}), 'csv', 'x').collect(); "
        "print(os.environ['POLARS_CSV_CHUNK_SIZE'])"
    )
    env = {k: v for k, v in os.environ.items() if k not in (POLARS_CSV_CHUNK_VARIABLE, "ODF_CSV_READ_CHUNK_BYTES")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == str(1 << 20)
