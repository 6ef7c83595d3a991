"""OpenLineage events for every ODF materialization (see docs/lineage.md).

Deliberately empty: the IO manager imports ``lineage.metadata`` and must not pull in
dagster-openlineage (whose import builds an OpenLineage client); ``dagster.yaml`` names
``odf_resources.lineage.storage``.
"""
