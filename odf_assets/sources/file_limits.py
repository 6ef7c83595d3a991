"""Bounds a fetched file before any reader sees it: decompression by content (refusing bombs,
oversized content and slow archives) and the longest line a text reader may hold."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from odf_core.text import quote
from odf_resources.source_fetcher import SourceLimits


class SourceFileError(ValueError):
    """A fetched file that cannot be parsed in its declared format."""


# Decompressed bytes per chunk: large enough for disk speed, small enough to stop a bomb early.
_DECOMPRESS_CHUNK = 1 << 20
# A small file may compress very well (a header and few repeated rows): the ratio counts past this size.
RATIO_FLOOR_BYTES = 64 << 20
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"PK\x03\x04": "zip", b"BZh": "bz2"}


def compression_of(path: Path) -> str | None:
    """The compression of a file by its content (magic bytes), whatever its name: gzip, zstd, zip, bz2."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


@contextmanager
def _open_compressed(path: Path, kind: str, where: str) -> Iterator:
    """A binary stream of the decompressed content (a zip's only member)."""
    import bz2
    import gzip
    import zipfile

    if kind in ("gzip", "bz2"):
        with (gzip.open if kind == "gzip" else bz2.open)(path, "rb") as stream:
            yield stream
        return
    if kind == "zstd":
        import zstandard

        with open(path, "rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as stream:
            yield stream
        return
    with zipfile.ZipFile(path) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) != 1:
            names = ", ".join(quote(info.filename, 60) for info in members[:5])
            raise SourceFileError(
                f"{where}: a zip source must hold exactly one file, this one holds {len(members)}: {names}"
            )
        with archive.open(members[0]) as stream:
            yield stream


def decompress(path: Path, workdir: Path, limits: SourceLimits, where: str) -> Path:
    """``path`` itself if it is not compressed, else its content streamed into ``workdir``, refused
    (``SourceFileError``) past ``max_bytes``, past ``max_ratio`` times the compressed size, or past
    the deadline: a decompression bomb stops after at most one chunk over the limit."""
    kind = compression_of(path)
    if kind is None:
        return path
    compressed = max(path.stat().st_size, 1)
    target = workdir / f"{path.name}.decompressed"
    deadline = time.monotonic() + limits.deadline_seconds
    size = 0
    try:
        with _open_compressed(path, kind, where) as source, open(target, "wb") as sink:
            for chunk in iter(lambda: source.read(_DECOMPRESS_CHUNK), b""):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise SourceFileError(
                        f"{where}: {kind} content decompresses to more than {limits.max_bytes} bytes "
                        f"(the size limit after decompression); refused"
                    )
                if size > RATIO_FLOOR_BYTES and size / compressed > limits.max_ratio:
                    raise SourceFileError(
                        f"{where}: {kind} content expands more than {limits.max_ratio:g} times "
                        f"({compressed} compressed bytes gave over {size}): a decompression bomb; refused"
                    )
                if time.monotonic() > deadline:
                    raise SourceFileError(
                        f"{where}: decompressing took longer than {limits.deadline_seconds:g} s; refused"
                    )
                sink.write(chunk)
    except SourceFileError:
        target.unlink(missing_ok=True)
        raise
    except Exception as error:  # BadGzipFile, BadZipFile, EOFError, zstandard.ZstdError: a corrupt archive
        target.unlink(missing_ok=True)
        raise SourceFileError(f"{where}: not valid {kind} data: {quote(str(error), 200)}") from None
    return target


def check_line_lengths(path: Path, limits: SourceLimits, where: str) -> None:
    """Refuse a text file with a line longer than ``max_line_bytes`` before any reader holds it:
    one pass, vectorised, constant memory; the error names the line."""
    import numpy as np

    current, line = 0, 1  # bytes of the line being read, its 1-based number
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_DECOMPRESS_CHUNK), b""):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
            if not len(ends):
                current += len(chunk)
                longest, at = current, 0
            else:
                lengths = np.diff(ends, prepend=-1) - 1
                lengths[0] += current
                at = int(np.argmax(lengths))
                longest = int(lengths[at])
                if current + len(chunk) - int(ends[-1]) - 1 > longest:
                    at, longest = len(ends), current + len(chunk) - int(ends[-1]) - 1
                current = len(chunk) - int(ends[-1]) - 1
            if longest > limits.max_line_bytes:
                raise SourceFileError(
                    f"{where}: line {line + at} is longer than {limits.max_line_bytes} bytes "
                    f"(the line length limit); refused"
                )
            line += len(ends)
