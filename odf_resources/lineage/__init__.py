"""OpenLineage events for every ODF materialization (see docs/lineage.md).

Deliberately empty: the IO manager imports ``lineage.metadata`` and must not pull in
openlineage-python; ``odf_sensors.lineage`` imports ``lineage.feed`` on its first tick.
"""
