"""Kubernetes sizing for ODF's heavy steps, as the ``dagster-k8s/config`` tag dagster-k8s reads.

As ``op_tags`` of an asset it sizes that asset's step pod under ``k8s_job_executor``; as ``tags`` of a
job (or run) it sizes the whole run pod started by ``K8sRunLauncher``. Anywhere else it is inert, so
local runs are unaffected. Keys are snake_case as dagster-k8s expects; tests/deploy validates the
resulting Job manifests against the Kubernetes schemas.
"""

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
