"""What a killed process leaves behind, cleaned up: stale local temp files/folders and, on S3,
multipart uploads that were started and never completed or aborted.

"Stale" is by age: anything younger than ``max_age_seconds`` may belong to a write in progress.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 24 * 3600
_swept: set[Path] = set()


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    return newest


def sweep_stale(directory: Path, max_age_seconds: float = STALE_AFTER_SECONDS, prefix: str = "") -> list[Path]:
    """Delete entries of ``directory`` (named ``prefix``…) untouched for ``max_age_seconds``; returns them."""
    removed: list[Path] = []
    cutoff = time.time() - max_age_seconds
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            if _newest_mtime(entry) > cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue  # another process swept it first
        except OSError as error:
            log.warning("could not remove stale %s: %s", entry, error)
            continue
        removed.append(entry)
    if removed:
        log.info(
            "removed %d stale temporary entr%s from %s", len(removed), "y" if len(removed) == 1 else "ies", directory
        )
    return removed


def sweep_once(directory: Path, max_age_seconds: float = STALE_AFTER_SECONDS) -> None:
    """``sweep_stale`` the first time this process writes through ``directory``, not on every write."""
    if directory not in _swept:
        _swept.add(directory)
        sweep_stale(directory, max_age_seconds)


def abort_stale_multipart_uploads(
    client, bucket: str, prefix: str, max_age_seconds: float = STALE_AFTER_SECONDS
) -> list[str]:
    """Abort multipart uploads under ``prefix`` started more than ``max_age_seconds`` ago; returns their keys.
    Their parts are billed storage until aborted, and S3 never shows them as objects."""
    cutoff = datetime.now(UTC) - timedelta(seconds=max_age_seconds)
    aborted = []
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            if upload["Initiated"] <= cutoff:
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
                aborted.append(upload["Key"])
    return aborted
