"""The sources domain: a raw asset and its aggregates per active registry source, and the consolidations."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from odf_assets.sources.assets import build_source_assets
from odf_assets.sources.consolidation_assets import build_consolidation_assets
from odf_assets.sources.consolidations import ConsolidationSpec
from odf_assets.sources.registry import SourceSpec


def defs(sources: list[SourceSpec], owners: Sequence[str] = ()) -> dg.Definitions:
    return dg.Definitions(assets=build_source_assets(sources, owners))


def consolidation_defs(consolidations: list[ConsolidationSpec]) -> dg.Definitions:
    """Kept apart from ``defs``: consolidations span sources, so no per-source ingest job selects them."""
    return dg.Definitions(assets=build_consolidation_assets(consolidations))
