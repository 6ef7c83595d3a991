"""Asset jobs resolved against their own assets, so a registry of N sources loads in time linear in N.

Dagster resolves every ``define_asset_job`` against the code location's whole asset graph: its
``get_asset_graph_for_job`` walks every assets definition once per job. With one ``ingest_<source>``
job per source that is sources x assets work, quadratic in the registry (4,000 sources took 11
minutes to load). A ``ScopedAssetJobDefinition`` is the same unresolved asset job (same name,
selection, tags; still resolved lazily, when Dagster first asks for it) whose resolution runs
Dagster's own ``resolve`` over a graph holding only the job's assets, the assets they read from and
the checks on them: the resolved job, its asset layer and its subsets are those Dagster would build
from the whole graph.

It subclasses Dagster's ``UnresolvedAssetJobDefinition`` (what ``dg.define_asset_job`` returns),
which the repository accepts and resolves like any asset job; tests/orchestration/test_schedules.py
checks the resolved jobs against ``dg.define_asset_job``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


class ScopedAssetJobDefinition(UnresolvedAssetJobDefinition):
    """An asset job over fixed asset keys, resolved against only the assets it needs."""

    def resolve(
        self,
        asset_graph: AssetGraph,
        default_executor_def: dg.ExecutorDefinition | None = None,
        resource_defs: Mapping[str, dg.ResourceDefinition] | None = None,
    ) -> dg.JobDefinition:
        keys = set(self.selection.selected_keys)
        # Scoping rebuilds a graph of the job's assets; for a job over most of the graph (one ingest
        # job for a registry whose sources share their days) that costs more than Dagster's walk.
        scoped = 2 * len(keys) < len(asset_graph.get_all_asset_keys())
        return super().resolve(
            asset_graph=_scoped_graph(asset_graph, keys) if scoped else asset_graph,
            default_executor_def=default_executor_def,
            resource_defs=resource_defs,
        )


def define_scoped_asset_job(name: str, keys: Sequence[dg.AssetKey], **kwargs) -> ScopedAssetJobDefinition:
    """``dg.define_asset_job(name, selection=keys, **kwargs)``, resolved against only what it needs."""
    job = dg.define_asset_job(name, selection=dg.AssetSelection.assets(*keys), **kwargs)
    fields = {field: getattr(job, field) for field in UnresolvedAssetJobDefinition.__annotations__}
    return ScopedAssetJobDefinition(**fields)


# The last graph seen and its standalone checks (one code location has one graph).
_checks_by_asset: tuple[AssetGraph, dict[dg.AssetKey, list[dg.AssetsDefinition]]] | None = None


def _check_only_defs(asset_graph: AssetGraph) -> dict[dg.AssetKey, list[dg.AssetsDefinition]]:
    """Standalone ``@asset_check`` definitions by the asset they target; computed once per graph."""
    global _checks_by_asset
    if _checks_by_asset is None or _checks_by_asset[0] is not asset_graph:
        found: dict[dg.AssetKey, list[dg.AssetsDefinition]] = {}
        for check_key in asset_graph.asset_check_keys:
            definition = asset_graph.assets_def_for_key(check_key)
            if not definition.keys:
                found.setdefault(check_key.asset_key, []).append(definition)
        _checks_by_asset = (asset_graph, found)
    return _checks_by_asset[1]


def _scoped_graph(asset_graph: AssetGraph, keys: set[dg.AssetKey]) -> AssetGraph:
    """The selected assets' definitions, the definitions they load inputs from, and the standalone
    checks on the selected assets: everything ``get_asset_graph_for_job`` reads for this selection."""
    selected = set(asset_graph.assets_defs_for_keys(keys))
    inputs = {key for definition in selected for key in definition.node_keys_by_input_name.values()}
    upstream = set(asset_graph.assets_defs_for_keys(key for key in inputs if asset_graph.has(key)))
    checks = _check_only_defs(asset_graph)
    standalone = {definition for key in keys for definition in checks.get(key, ())}
    return AssetGraph.from_assets([*selected, *upstream, *standalone])
