"""Issue 22, observation 12: registry files are regular files of bounded size, loaded by libyaml
with ODF's hardening; keys are compared as strings, column names are from a safe set, and
control characters never reach a message raw."""

from __future__ import annotations

import os

import pytest

from odf_assets.registry_loader import load_sources
from odf_assets.sources.registry import MAX_REGISTRY_BYTES, RegistryError, load_registry_file

pytestmark = pytest.mark.timeout(60)

SOURCE = """sources:
  - name: shop_sales
    description: Shop sales.
    license: CC0-1.0
    owner: ODF tests
    format: csv
    url_template: https://data.example.org/{{date}}.csv
    start_date: 2024-02-01
    schema:
{columns}
"""


def registry(tmp_path, columns: str, name: str = "sources.yaml"):
    path = tmp_path / name
    path.write_text(SOURCE.format(columns=columns))
    return path


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_only_regular_files_are_read(tmp_path, monkeypatch, kind):
    if kind == "directory":
        target = tmp_path / "a-folder"
        target.mkdir()
    elif kind == "fifo":
        target = tmp_path / "pipe.yaml"
        os.mkfifo(target)  # opening it for a blocking read would hang forever
    else:
        target = "/dev/zero"  # read whole, it never ends
    monkeypatch.setenv("ODF_SOURCES", str(target))
    with pytest.raises(RegistryError, match=f"{target}: is (a directory|a FIFO|not a regular file)"):
        load_sources()


def test_a_registry_above_the_size_limit_is_refused_without_parsing(tmp_path):
    path = registry(tmp_path, "      receipt: string")
    path.write_text(path.read_text() + "    description_note: '" + "x" * MAX_REGISTRY_BYTES + "'\n")
    with pytest.raises(RegistryError, match=f"larger than the registry limit of {MAX_REGISTRY_BYTES} bytes"):
        load_registry_file(path)


def test_deep_nesting_is_refused_before_anything_is_built(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("sources: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(RegistryError, match="nested more than 32 levels deep"):
        load_registry_file(path)


def test_keys_are_compared_as_strings(tmp_path):
    path = registry(tmp_path, "      1: string\n      '1': int64")
    with pytest.raises(RegistryError, match=r"schema\.1: key written twice in one mapping"):
        load_registry_file(path)


@pytest.mark.parametrize("column", ["'^.*$'", "'*'", "'price*'", "' padded'"])
def test_column_names_outside_the_safe_set_are_refused_at_load(tmp_path, column):
    with pytest.raises(RegistryError, match="column names must not contain"):
        load_registry_file(registry(tmp_path, f"      {column}: string"))


def test_control_characters_are_escaped_in_messages(tmp_path):
    path = registry(tmp_path, '      "amount\\n2024-05-01 INFO all good": decimal')
    with pytest.raises(RegistryError) as raised:
        load_registry_file(path)
    message = str(raised.value)
    assert "\n" not in message and "amount\\n2024-05-01 INFO all good" in message


def test_real_column_names_still_load(tmp_path):
    specs = load_registry_file(registry(tmp_path, '      "Water flow [l/s]": float64\n      Time: string'))
    assert list(specs[0].schema) == ["Water flow [l/s]", "Time"]
