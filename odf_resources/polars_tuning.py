"""Memory bounds for Polars' streaming readers, set before a process's first scan.

Polars' streaming CSV reader reads ahead several large chunks per pipeline: about 350 MB of
buffers on a 2-core worker whatever the file size. Chunks of 1 MiB keep the raw step's peak about
40 MB below 4 MiB chunks (median 211 vs 256 MB on a 675 MB CSV; CPU time differed by less than the
noise of a shared machine); ``bench.large_input`` measures ODF's chunks and Polars' own side by
side. The knob is Polars' environment variable ``POLARS_CSV_CHUNK_SIZE``, read once at the first
CSV scan and not a public API, so an operator's own value always wins and the benchmark shows
whether a Polars upgrade still honours it.
"""

from __future__ import annotations

import os

from odf_resources import settings

POLARS_CSV_CHUNK_VARIABLE = "POLARS_CSV_CHUNK_SIZE"


def bound_csv_read_memory() -> None:
    """Give Polars ODF's CSV chunk size unless the operator set one (or chose Polars' default)."""
    chunk_bytes = settings.csv_read_chunk_bytes()
    if chunk_bytes:
        os.environ.setdefault(POLARS_CSV_CHUNK_VARIABLE, str(chunk_bytes))
