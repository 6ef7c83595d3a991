"""The longest CSV field a reader may hold, counted before any reader sees the file: a quoted field
counts across the line breaks inside it, which the line-length bound does not see."""

from __future__ import annotations

import csv
from pathlib import Path

from odf_assets.sources.csv_rows import CsvDialect, field_limit
from odf_assets.sources.file_limits import SourceFileError
from odf_core.text import quote
from odf_resources.source_fetcher import SourceLimits

# Bytes read per chunk: large enough for disk speed, bounded memory.
_CHUNK_BYTES = 1 << 20


def check_field_lengths(path: Path, dialect: CsvDialect, limits: SourceLimits, where: str, columns: list[str]) -> None:
    """Refuse a CSV file with a field longer than ``max_field_bytes`` before any reader holds it. A
    quoted field counts across the line breaks inside it, which the line limit does not see: one
    vectorised pass, constant memory; the error names the line where the field starts, its number
    and column. ``columns``: the names of a file without a header line."""
    found = first_long_field(path, dialect.delimiter, dialect.quote_char, limits.max_field_bytes)
    if found is None:
        return
    line, field = found
    names = columns if not dialect.header else _header_names(path, dialect, limits.max_field_bytes)
    column = f" (column {quote(names[field - 1], 80)})" if 0 < field <= len(names) else ""
    raise SourceFileError(
        f"{where}: line {line}, field {field}{column} is longer than {limits.max_field_bytes} bytes "
        f"(the field length limit, max_field_bytes; a quoted field counts across its line breaks); refused"
    )


def _header_names(path: Path, dialect: CsvDialect, limit: int) -> list[str]:
    """The header line's names, or none when the header itself holds the long field."""
    with field_limit(limit), open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(
            handle,
            delimiter=dialect.delimiter,
            quotechar=dialect.quote_char or '"',
            quoting=csv.QUOTE_MINIMAL if dialect.quote_char else csv.QUOTE_NONE,
        )
        try:
            return next(reader, [])
        except csv.Error:
            return []


def first_long_field(
    path: Path, delimiter: str, quote_char: str | None, limit: int, chunk_size: int = _CHUNK_BYTES
) -> tuple[int, int] | None:
    """(line, field number) where the first CSV field longer than ``limit`` bytes starts, or None.
    A field ends at a delimiter or line break outside quotes; inside quotes is after an odd number
    of quote characters (an escaped ``""`` flips twice)."""
    if limit >= chunk_size and not _has_long_field(path, delimiter, quote_char, limit, chunk_size):
        return None
    return _locate_long_field(path, delimiter, quote_char, limit, chunk_size)


def _has_long_field(path: Path, delimiter: str, quote_char: str | None, limit: int, chunk_size: int) -> bool:
    """Whether some field is longer than ``limit`` (at least one chunk): only the last separator
    outside quotes of each chunk matters, found from the chunk's end, so clean files cost about
    what the line-length pass costs."""
    import numpy as np

    delim, quote_byte = ord(delimiter), ord(quote_char) if quote_char else None
    offset, start, quoted = 0, 0, False
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            data = np.frombuffer(chunk, dtype=np.uint8)
            separator = (data == delim) | (data == 10)
            quotes = np.flatnonzero(data == quote_byte) if quote_byte is not None else np.empty(0, np.int64)
            # The open field ends at the chunk's first separator outside quotes.
            begin = 0  # search from this position
            while begin < len(data):
                forwards = separator[begin:]
                found = int(np.argmax(forwards))
                if not forwards[found]:
                    break
                position = begin + found
                before = int(np.searchsorted(quotes, position))
                if (before + quoted) % 2 == 0:
                    if offset + position - start > limit:
                        return True
                    break
                if before == len(quotes):  # quoted to the chunk's end
                    break
                begin = int(quotes[before]) + 1  # the closing quote: look after it
            # Fields inside the chunk are shorter than it; the next field opens at its last separator.
            end = len(data)  # search before this position
            while end > 0:
                backwards = separator[:end][::-1]
                found = int(np.argmax(backwards))
                if not backwards[found]:
                    break
                position = end - 1 - found
                before = int(np.searchsorted(quotes, position))
                if (before + quoted) % 2 == 0:
                    start = offset + position + 1
                    break
                if before == 0:  # quoted since before the chunk: nothing earlier is outside quotes
                    break
                end = int(quotes[before - 1])  # the opening quote: look before it
            quoted = bool((len(quotes) + quoted) % 2)
            offset += len(data)
            if offset - start > limit:
                return True
    return False


def _locate_long_field(
    path: Path, delimiter: str, quote_char: str | None, limit: int, chunk_size: int
) -> tuple[int, int] | None:
    """``first_long_field``'s answer, with the line and field number of every field start tracked."""
    import numpy as np

    delim, quote_byte = ord(delimiter), ord(quote_char) if quote_char else None
    offset, line = 0, 1  # file position and physical line of the chunk's first byte
    start, start_line, start_field = 0, 1, 1  # where the open field starts
    quoted = False  # inside quotes at the chunk's start
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            data = np.frombuffer(chunk, dtype=np.uint8)
            newline = data == 10
            ends = np.flatnonzero((data == delim) | newline)
            if quote_byte is not None:
                quotes = np.flatnonzero(data == quote_byte)
                if quoted or len(quotes):
                    # A separator is inside quotes after an odd count of quote characters before it
                    # (a binary search per separator: a running sum over every byte costs ten times more).
                    ends = ends[((np.searchsorted(quotes, ends) + quoted) & 1) == 0]
                    quoted = bool((len(quotes) + quoted) & 1)
            if len(ends):
                lines = None
                if limit < len(chunk) + offset - start:  # a field may end too long inside this chunk
                    starts = np.concatenate(([start - offset], ends[:-1] + 1))
                    too_long = np.flatnonzero(ends - starts > limit)
                    if len(too_long):
                        lines = np.cumsum(newline)
                        return _field_at(int(too_long[0]), ends, newline, lines, line, (start_line, start_field))
                last = int(ends[-1])
                breaks = np.flatnonzero(newline[ends])
                start_field = len(ends) - int(breaks[-1]) if len(breaks) else start_field + len(ends)
                start_line = line + int(np.count_nonzero(newline[: last + 1]))
                start = offset + last + 1
            offset += len(chunk)
            line += int(np.count_nonzero(newline))
            if offset - start > limit:  # the open field is already too long
                return start_line, start_field
    return None


def _field_at(k: int, ends, newline, lines, line: int, carried: tuple[int, int]) -> tuple[int, int]:
    """(line, field number) of the chunk's k-th field; field 0 is the one open when the chunk began."""
    import numpy as np

    if k == 0:
        return carried
    breaks = np.flatnonzero(newline[ends[:k]])
    field = k - int(breaks[-1]) if len(breaks) else carried[1] + k
    return line + int(lines[int(ends[k - 1])]), field
