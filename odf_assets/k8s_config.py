"""Kubernetes sizing for ODF's heavy steps; the step executor (odf_sensors/executor.py) applies it on
every launch path.

ODF runs each *step* in its own pod under Kubernetes (``ODF_STEP_EXECUTOR=k8s``, set by
helm/values.yaml and deploy/dagster.yaml for the code server, run pods and step pods): the run pod
only orchestrates, and ``k8s_job_executor`` sizes each step's pod from its ``op_tags``. Heavy assets
carry ``HEAVY_ASSET_OP_TAGS``; every other step gets the run launcher's default size. Because the
executor belongs to the job definition, this holds for runs from the UI, GraphQL, backfills,
schedules, sensors and ``odf``: run tags are set differently on each of those paths, and the UI's
asset launches and asset backfills copy no asset tags into run tags. Elsewhere (``dagster dev``,
tests) the tags are inert and Dagster's default executor runs the steps.
"""

from __future__ import annotations

# Cleaning sales de-duplicates a whole partition range in memory; raw fetches stream, but keep the
# download, a staged Parquet copy and the upload's staging file on local disk (about 1.3x the
# source's size). Requests are sized for a typical month-range run; limits leave headroom for
# Polars' peaks before the pod is OOM-killed or evicted for its disk.
HEAVY_CONTAINER_RESOURCES = {
    "requests": {"cpu": "1", "memory": "4Gi", "ephemeral-storage": "10Gi"},
    "limits": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "40Gi"},
}

HEAVY_ASSET_OP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": HEAVY_CONTAINER_RESOURCES},
        # Don't let a heavy pod be evicted to make room for smaller ones mid-run.
        "pod_template_spec_metadata": {"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}},
    }
}
