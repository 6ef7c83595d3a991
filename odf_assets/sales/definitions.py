"""The sales domain: cleaned sales, daily and weekly summaries, trends and top days of the default source."""

from __future__ import annotations

import dagster as dg

from odf_assets.sales.assets import SALES_SOURCE, build_sales_assets
from odf_assets.sources.registry import SourceSpec


def default_source(sources: list[SourceSpec]) -> SourceSpec | None:
    """The registry's sales source when it is active: the sales and analysis assets are built on it."""
    return next((source for source in sources if source.name == SALES_SOURCE and source.active), None)


def defs(sources: list[SourceSpec]) -> dg.Definitions:
    source = default_source(sources)
    return dg.Definitions(assets=build_sales_assets(source) if source else [])
