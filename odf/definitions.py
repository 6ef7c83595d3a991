"""The ODF code location Dagster loads (``dagster ... -m odf.definitions``, workspace.yaml, the image).

Built at import by ``odf.location.build_definitions`` (also importable from here).
"""

from __future__ import annotations

import gc

from odf.location import build_definitions

__all__ = ["build_definitions", "defs"]

defs = build_definitions()
# The definitions live as long as the process. Freezing them (and everything imported) moves them out
# of the cyclic collector's reach: resolving a large registry's jobs, which the code server and the
# webserver do after this import, would otherwise walk them again at every full collection (a
# quarter of resolving 1,000 sources' jobs). Building leaves next to no cyclic garbage to keep.
gc.freeze()
