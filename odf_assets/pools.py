"""Dagster pools: the acquisition and aggregation queues, enforced on every launch path.

Assets declare ``pool=``; the instance (deploy/dagster.yaml, helm/values.yaml, dagster.yaml) limits
each pool with ``concurrency.pools`` at run granularity, so a run waits in the queue while any of
its pools is full, whether the UI, a backfill, a schedule, a sensor or ``odf`` launched it.
"""

ACQUISITION_POOL = "odf_acquisition"  # raw assets: they fetch from source servers
AGGREGATION_POOL = "odf_aggregation"  # everything computed from stored data
