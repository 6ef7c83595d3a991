"""The analysis domain: the old analysis service's daily summary and descriptive statistics."""

from __future__ import annotations

import dagster as dg

from odf_assets.analysis.assets import build_analysis_assets
from odf_assets.sales.definitions import default_source
from odf_assets.sources.registry import SourceSpec


def defs(sources: list[SourceSpec]) -> dg.Definitions:
    source = default_source(sources)
    return dg.Definitions(assets=build_analysis_assets(source) if source else [])
