"""A local publish is durable in the order a power loss needs: the file's bytes are synced before
the rename makes them the object, and the folder that holds the new name (and each folder created
for it) is synced after, so a run that succeeded cannot come back as the previous object, or none.

The real syscalls run; the test only records which inode each ``fsync`` and ``rename`` touched."""

import os
from pathlib import Path

import pytest

from odf_resources.storage import storage_from_uri

KEY = "raw/shop/date=2024-01-01/data.parquet"


@pytest.fixture
def syscalls(monkeypatch):
    """(call, inode) in order, for every os.fsync and os.replace the storage makes."""
    calls: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        calls.append(("fsync", os.fstat(descriptor).st_ino))
        return real_fsync(descriptor)

    def replace(source, destination):
        calls.append(("replace", os.stat(source).st_ino))
        return real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


def inode(path: Path) -> int:
    return path.stat().st_ino


def published_then_synced(calls, store: Path, key: str, new_folders: list[str]) -> None:
    """The file's fsync, then its rename, then its folder's fsync; every created folder's parent
    synced before the rename (top down), so the path to the file is durable too."""
    file_inode, folder_inode = inode(store / key), inode((store / key).parent)
    file_sync = calls.index(("fsync", file_inode))
    rename = calls.index(("replace", file_inode))
    folder_sync = len(calls) - 1 - calls[::-1].index(("fsync", folder_inode))
    assert file_sync < rename < folder_sync, calls
    parents = [("fsync", inode((store / folder).parent)) for folder in new_folders]
    positions = [calls.index(parent) for parent in parents]
    assert positions == sorted(positions) and all(position < rename for position in positions), calls


def test_a_staged_file_published_into_new_folders_is_durable(tmp_path, syscalls):
    store = tmp_path / "store"
    storage = storage_from_uri(str(store))
    (store / "raw").mkdir(parents=True)
    with storage.staging_area() as folder:
        staged = folder / "0.parquet"
        staged.write_bytes(b"day one")
        syscalls.clear()
        storage.publish_staged_file(staged, KEY)
    assert (store / KEY).read_bytes() == b"day one"
    published_then_synced(syscalls, store, KEY, ["raw/shop", "raw/shop/date=2024-01-01"])


def test_a_copied_file_replacing_an_object_syncs_its_folder_after_the_rename(tmp_path, syscalls):
    store = tmp_path / "store"
    storage = storage_from_uri(str(store))
    storage.publish_bytes(b"first", KEY)
    source = tmp_path / "elsewhere.parquet"
    source.write_bytes(b"second")
    syscalls.clear()
    storage.publish_file(source, KEY)
    assert (store / KEY).read_bytes() == b"second"
    published_then_synced(syscalls, store, KEY, [])


def test_an_exclusive_create_syncs_its_folder(tmp_path, syscalls):
    store = tmp_path / "store"
    storage = storage_from_uri(str(store))
    assert storage.create_exclusive(b"claim", "landing/claims/a.json")
    claim = store / "landing" / "claims" / "a.json"
    assert syscalls[-2:] == [("fsync", inode(claim)), ("fsync", inode(claim.parent))]
    assert ("fsync", inode(store / "landing")) in syscalls, "the new folder's name is synced too"
