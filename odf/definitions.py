"""The ODF code location Dagster loads (``dagster ... -m odf.definitions``, workspace.yaml, the image).

Built at import by ``odf.location.build_definitions`` (also importable from here).
"""

from __future__ import annotations

from odf.location import build_definitions

__all__ = ["build_definitions", "defs"]

defs = build_definitions()
