"""Where ODF keeps its objects: a local directory or an S3 prefix (``s3_storage``), behind one small interface.

Every write is *publish a finished local file*: the caller serializes to a temporary file first,
so a failure while producing bytes never touches the destination. Publishing is atomic on both
backends: ``os.replace`` within one filesystem locally, and on S3 a single PUT or a multipart
upload, neither of which creates a visible object unless it completes.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import BinaryIO

from odf_core.leftovers import sweep_once

# One path segment: letters, digits, and a few separators; never "." or "..".
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=\-]*$")
TEMP_PREFIX = ".tmp-"
_S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$")


class StorageError(OSError):
    """Storage failed (disk full, I/O error, throttling past every retry): not a problem of the data,
    so it is never reported as a data check; the asset's RetryPolicy tries again."""


_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}
# Polars and object_store report OS errors inside their own messages.
_STORAGE_MESSAGES = re.compile(
    r"No space left on device|Disk quota exceeded|Read-only file system|Input/output error|os error (28|122|5|30|27)\b"
)


def is_storage_failure(error: BaseException) -> bool:
    """Whether ``error`` is the storage failing (a full disk, an I/O error) rather than bad data."""
    return isinstance(error, StorageError) or (
        isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS or bool(_STORAGE_MESSAGES.search(str(error)))
    )


class UnsafeKeyError(ValueError):
    """A relative key that could escape the storage base or name a hidden temporary file."""


def safe_key(*parts: str) -> str:
    """Join key parts with "/" after checking every segment cannot escape the base."""
    segments: list[str] = []
    for part in parts:
        for segment in str(part).split("/"):
            if not _SEGMENT.fullmatch(segment) or segment in {".", ".."}:
                raise UnsafeKeyError(
                    f"unsafe storage key segment {segment!r} in {'/'.join(map(str, parts))!r}: "
                    "expected letters, digits, '_', '-', '.', '=' and no '..'"
                )
            segments.append(segment)
    if not segments:
        raise UnsafeKeyError("empty storage key")
    return "/".join(segments)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    # Changes whenever the object's content is replaced: an ETag on S3, mtime_ns+size locally.
    version: str
    # A local symbolic link (to a file or folder): listed so callers can refuse it, never followed.
    symlink: bool = False


class Storage(ABC):
    """A base location: ``uri`` is what users see; ``key``s are relative, '/'-separated."""

    uri: str

    @abstractmethod
    def uri_for(self, key: str) -> str: ...

    @abstractmethod
    def publish_file(self, local_path: Path, key: str) -> None:
        """Atomically make ``local_path``'s bytes the content of ``key``."""

    def publish_staged_file(self, local_path: Path, key: str) -> None:
        """``publish_file`` for a finished file the caller will not read again: a backend may move it
        into place instead of copying it (locally, a rename within one filesystem)."""
        self.publish_file(local_path, key)

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under ``prefix`` (recursive), temporary files excluded, sorted by key.
        Keys are as found: they may hold characters ``safe_key`` refuses."""

    @abstractmethod
    def open_stream(self, key: str) -> BinaryIO:
        """``key``'s bytes as a readable binary stream, for files too large to hold in memory;
        locally, a symbolic link anywhere under the base is refused (``UnsafeKeyError``)."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def create_exclusive(self, data: bytes, key: str) -> bool:
        """Write ``data`` as ``key`` only if no object ``key`` exists, atomically against concurrent
        writers (exclusive create locally, ``If-None-Match: *`` on S3); False when it existed."""

    def holds(self, local_path: Path, key: str) -> bool:
        """Whether ``key`` already holds exactly ``local_path``'s bytes (size, then a streamed
        SHA-256), so an unchanged partition is not rewritten."""
        if not self.exists(key) or self.size(key) != local_path.stat().st_size:
            return False
        stored, local = hashlib.sha256(), hashlib.sha256()
        with self.open_stream(key) as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                stored.update(chunk)
        with open(local_path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                local.update(chunk)
        return stored.digest() == local.digest()

    def scan_uri(self, key: str) -> str:
        """The URI polars' readers accept for ``key``."""
        return self.uri_for(key)

    def scan_options(self) -> dict | None:
        """``storage_options`` of polars' readers for ``scan_uri``."""
        return None

    def staging_dir(self) -> Path:
        """A directory for temporary files that ``publish_file`` can move from cheaply; what a
        killed process left there long ago is swept the first time a process asks for it."""
        return _swept(Path(tempfile.gettempdir()) / "odf-staging")

    @contextmanager
    def staging_area(self, prefix: str = TEMP_PREFIX) -> Iterator[Path]:
        """A private temporary folder in ``staging_dir``, removed on exit together with the
        staging directory itself once no other write is using it (nothing is left behind)."""
        parent = self.staging_dir()
        for attempt in range(_STAGING_ATTEMPTS):
            try:
                folder = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
                break
            except FileNotFoundError:  # another write removed the empty parent just now
                if attempt == _STAGING_ATTEMPTS - 1:
                    raise
                _make_dir(parent)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with suppress(OSError):  # not empty: another run is staging there, it removes it
                parent.rmdir()

    def publish_bytes(self, data: bytes, key: str) -> None:
        with self.staging_area() as folder:
            temp_path = folder / "data"
            temp_path.write_bytes(data)
            self.publish_file(temp_path, key)


class LocalStorage(Storage):
    def __init__(self, base: str | os.PathLike[str]):
        self.base = Path(base).expanduser().resolve()
        self.uri = str(self.base)

    def _path(self, key: str) -> Path:
        return self.base / safe_key(key)

    def uri_for(self, key: str) -> str:
        return str(self._path(key))

    def staging_dir(self) -> Path:
        return _swept(self.base / (TEMP_PREFIX + "staging"))

    def _writable_folder(self, key: str) -> Path:
        """``key``'s path after creating its folder; a symbolic link on the way is refused, as on
        read, so no write lands outside the storage root."""
        destination = self._path(key)
        created, folder = [], destination.parent
        while not folder.exists() and folder != self.base.parent:
            created.append(folder)
            folder = folder.parent
        destination.parent.mkdir(parents=True, exist_ok=True)
        if os.path.realpath(destination.parent) != str(destination.parent):
            raise UnsafeKeyError(f"{key!r} passes through a symbolic link; refused")
        # A new folder's name lives in its parent: synced top down, so the file published into it
        # is still reachable after a power loss.
        for new_folder in reversed(created):
            _sync_folder(new_folder.parent)
        return destination

    def publish_file(self, local_path: Path, key: str) -> None:
        destination = self._writable_folder(key)
        # Copy next to the destination first so the final rename never crosses a filesystem.
        temp = destination.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}-{destination.name}")
        try:
            shutil.copyfile(local_path, temp)
            _move_into_place(temp, destination)
        finally:
            temp.unlink(missing_ok=True)

    def publish_staged_file(self, local_path: Path, key: str) -> None:
        destination = self._writable_folder(key)
        if os.stat(local_path).st_dev != os.stat(destination.parent).st_dev:
            self.publish_file(local_path, key)
            return
        # Staged files live under the base (staging_dir), so moving one is a rename: no second copy
        # of the bytes and nothing left to delete.
        _move_into_place(local_path, destination)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def list(self, prefix: str) -> list[StoredObject]:
        root = self._path(prefix)
        if root.is_symlink() or not root.is_dir():
            return []
        found = []
        # os.walk does not descend into linked folders; links are listed, flagged, never followed.
        for folder, dirs, files in os.walk(root):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                path = os.path.join(folder, name)
                relative = Path(path).relative_to(self.base).as_posix()
                if any(part.startswith(TEMP_PREFIX) for part in relative.split("/")):
                    continue
                stat = os.lstat(path)
                link = S_ISLNK(stat.st_mode)
                if link or S_ISREG(stat.st_mode):  # never a FIFO or socket: opening one would block
                    found.append(StoredObject(relative, stat.st_size, f"{stat.st_mtime_ns}-{stat.st_size}", link))
        return sorted(found, key=lambda item: item.key)

    def open_stream(self, key: str) -> BinaryIO:
        path = self._path(key)
        # realpath catches a linked folder on the way; O_NOFOLLOW a link swapped in at the end.
        if os.path.realpath(path) != str(path):
            raise UnsafeKeyError(f"{key!r} passes through a symbolic link; refused")
        return os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def create_exclusive(self, data: bytes, key: str) -> bool:
        destination = self._writable_folder(key)
        try:
            descriptor = os.open(
                destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644
            )
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _sync_folder(destination.parent)
        return True


# Creating the shared staging folder races with writes that remove it once empty; each lost race
# needs another write to finish in a window of microseconds, so a few attempts always suffice.
_STAGING_ATTEMPTS = 20


def _move_into_place(source: Path, destination: Path) -> None:
    """Renames ``source`` (on ``destination``'s filesystem) to ``destination`` durably: its bytes
    reach the disk before the rename makes them the object, and the new name after."""
    with open(source, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, destination)
    _sync_folder(destination.parent)


def _sync_folder(folder: Path) -> None:
    """Makes ``folder``'s entries durable: syncing a file writes its bytes, but its name (a rename
    into ``folder``, a new file or folder in it) reaches the disk only with the folder. Without it,
    a power loss after a run succeeded could bring back the previous object, or none."""
    if os.name == "nt":  # Windows cannot open a folder to sync it
        return
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _make_dir(path: Path) -> None:
    """``mkdir -p`` that tolerates a concurrent ``rmdir``: pathlib's ``exist_ok`` check raises
    FileExistsError when the folder vanishes between its mkdir and its is_dir."""
    for attempt in range(_STAGING_ATTEMPTS):
        try:
            path.mkdir(parents=True, exist_ok=True)
            return
        except FileExistsError:
            try:
                # One stat, not exists() then is_dir(): the folder may vanish between two calls.
                is_folder = S_ISDIR(path.stat().st_mode)
            except FileNotFoundError:
                is_folder = True  # removed again: another attempt creates it
            if attempt == _STAGING_ATTEMPTS - 1 or not is_folder:
                raise


def _swept(staging: Path) -> Path:
    _make_dir(staging)
    sweep_once(staging)
    return staging


def split_storage_uri(uri: str) -> tuple[str, str] | None:
    """``s3://bucket/prefix`` → (bucket, prefix); a local directory → None; any other scheme is an error."""
    match = _S3_URI.match(uri)
    if match:
        if "@" in match.group(1):  # s3://KEY:SECRET@bucket: quoted in every URI ODF prints
            raise ValueError(
                f"storage URI s3://…@{match.group(1).rpartition('@')[2]}/… carries credentials; refused: "
                "give them as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a role), not in ODF_STORAGE"
            )
        return match.group(1), match.group(2).strip("/")
    if "://" in uri:
        raise ValueError(f"unsupported storage URI {uri!r}: expected a local directory or s3://bucket/prefix")
    return None


def storage_from_uri(uri: str) -> Storage:
    """``s3://bucket/prefix`` → S3; a local directory otherwise."""
    if split_storage_uri(uri) is None:
        return LocalStorage(uri)
    from odf_resources.s3_storage import S3Storage  # builds on this module's Storage

    return S3Storage(uri)
