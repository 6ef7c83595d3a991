"""The ODF code location: one ``defs()`` per layer and domain, merged here and nowhere else.

Dependency rule (tests/architecture/test_layers.py): ``odf_resources`` ← domains (``odf_assets``)
← orchestration (``odf_sensors``) ← this root and the ``odf`` CLI. Nothing imports this module.
"""

from __future__ import annotations

import gc

import dagster as dg

from odf_assets.analysis import definitions as analysis
from odf_assets.predictions import definitions as predictions
from odf_assets.registry_loader import load_registries
from odf_assets.sales import definitions as sales
from odf_assets.sources import definitions as sources
from odf_resources import definitions as resources
from odf_resources import settings
from odf_sensors import definitions as orchestration


def build_definitions() -> dg.Definitions:
    # Building allocates a great many objects and few cycles; the cyclic collector would walk them over
    # and over (a sixth of loading a 1,000-source registry). It runs again once they are built.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_definitions()
    finally:
        if collecting:
            gc.enable()


def _build_definitions() -> dg.Definitions:
    registries = load_registries()
    # Every asset is owned by the team that runs the pipeline; a source's publisher is its metadata.
    # The registry's assets get their owners as they are built (the bulk of a large registry);
    # the other domains' few assets are mapped.
    owners = [settings.pipeline_owner()]
    source_defs = sources.defs(registries.sources, owners)
    pipeline = [sales.defs(registries.sources), analysis.defs(registries.sources)]
    pipeline_assets = [asset for domain in [source_defs, *pipeline] for asset in domain.assets or []]
    others = dg.Definitions.merge(
        resources.defs(registries.files),
        *pipeline,
        sources.consolidation_defs(registries.consolidations),
        predictions.defs(),
    ).map_asset_specs(func=lambda spec: spec.replace_attributes(owners=owners))
    return dg.Definitions.merge(source_defs, others, orchestration.defs(registries.sources, pipeline_assets))


defs = build_definitions()
# The definitions live as long as the process. Freezing them (and everything imported) moves them out
# of the cyclic collector's reach: resolving a large registry's jobs, which the code server and the
# webserver do after this import, would otherwise walk them again at every full collection (a
# quarter of resolving 1,000 sources' jobs). Building leaves next to no cyclic garbage to keep.
gc.freeze()
