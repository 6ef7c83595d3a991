"""Finding 4 (file roots) and 8: a registry in a shared folder does not open that folder to ``file:``
sources, and a NUL byte in a path is a FetchError."""

import os
import tempfile
from pathlib import Path

import pytest

from odf.definitions import build_definitions
from odf_resources.source_fetcher import FetchError, SourceFetcher, registry_file_roots
from tests.support.pipeline import write_registry


def test_shared_folders_are_never_implicit_file_roots(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anyone can plant a file next to the registry
    own = tmp_path / "project"
    own.mkdir()
    registries = [
        home / "r.yaml",
        shared / "r.yaml",
        Path(tempfile.gettempdir()) / "r.yaml",
        Path("/r.yaml"),
        own / "r.yaml",
    ]
    explicit = tmp_path / "explicit"
    assert registry_file_roots(registries, [explicit]) == sorted([str(own.resolve()), str(explicit.resolve())])


def test_a_registry_in_a_shared_folder_cannot_read_its_neighbours(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "someone_elses.csv").write_text("secret\n1\n")
    registry = write_registry(shared, [])
    monkeypatch.setenv("ODF_SOURCES", str(registry))
    fetcher: SourceFetcher = build_definitions().resources["source_fetcher"]
    assert str(shared.resolve()) not in fetcher.file_roots
    with pytest.raises(FetchError, match=r"outside the allowed file roots .*ODF_FILE_ROOTS"):
        fetcher.fetch((shared / "someone_elses.csv").as_uri(), tmp_path)
    monkeypatch.setenv("ODF_FILE_ROOTS", str(shared))  # the operator's explicit choice still works
    fetcher = build_definitions().resources["source_fetcher"]
    assert fetcher.fetch((shared / "someone_elses.csv").as_uri(), tmp_path).size == len("secret\n1\n")


@pytest.mark.parametrize("url", ["file:///tmp/data%00.csv", "file:///tmp/%00", "http://127.0.0.1/a\x00b.csv"])
def test_nul_bytes_in_paths_are_fetch_errors(url, tmp_path):
    with pytest.raises(FetchError, match=r"NUL byte|control characters"):
        SourceFetcher(file_roots=[str(tmp_path)], allowed_hosts=["127.0.0.1"]).fetch(url, tmp_path)


def test_world_writable_check_reads_the_mode_not_the_name(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert registry_file_roots([private / "r.yaml"], []) == [str(private.resolve())]
    os.chmod(private, 0o777)
    assert registry_file_roots([private / "r.yaml"], []) == []
