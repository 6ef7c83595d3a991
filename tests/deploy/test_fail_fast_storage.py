"""Local storage is refused where pods would lose it: with the k8s step executor, in a pod that
dagster-k8s launched, and on the production instance (runs as Kubernetes Jobs)."""

from __future__ import annotations

import dagster as dg
import pytest

from odf_resources.storage_resource import OdfStorage


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"ODF_STEP_EXECUTOR": "k8s"}, "ODF_STEP_EXECUTOR=k8s"),
        ({"DAGSTER_RUN_JOB_NAME": "daily_pipeline"}, "launched by Kubernetes"),
        ({"ODF_STEP_EXECUTOR": "k8s", "ODF_STORAGE": "/data/odf"}, "ODF_STEP_EXECUTOR=k8s"),
    ],
)
def test_code_location_refuses_local_storage_in_pods(env, reason, monkeypatch):
    """The code server, a run pod and a step pod all load odf.definitions: it fails, naming ODF_STORAGE."""
    from odf.definitions import build_definitions

    monkeypatch.delenv("ODF_STORAGE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=r"ODF_STORAGE='[^']+' is a local folder") as refused:
        build_definitions()
    assert reason in str(refused.value) and "s3://<bucket>/<prefix>" in str(refused.value)
    monkeypatch.setenv("ODF_STORAGE", "s3://odf-data/odf")
    build_definitions()  # object storage: the same pod loads


@dg.asset
def written(odf_storage: OdfStorage) -> None:
    odf_storage.get()


def test_production_instance_refuses_local_storage_at_run_start(prod_instance, tmp_path):
    """A run on deploy/dagster.yaml (K8sRunLauncher) with a local ODF_STORAGE fails before any write."""
    local = tmp_path / "storage"
    # The PostgreSQL cluster is shared by the session's tests: only this test's run counts.
    earlier = {run.run_id for run in prod_instance.get_runs()}
    with pytest.raises(dg.DagsterInvariantViolationError) as refused:
        dg.materialize([written], instance=prod_instance, resources={"odf_storage": OdfStorage(base=str(local))})
    message = str(refused.value)
    assert "ODF_STORAGE=" in message and "K8sRunLauncher" in message, message
    [run] = [run for run in prod_instance.get_runs() if run.run_id not in earlier]
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert not local.exists()
    # The same run with S3 storage passes the check (the resource only opens storage on use).
    ok = dg.materialize(
        [written], instance=prod_instance, resources={"odf_storage": OdfStorage(base="s3://odf-data/odf")}
    )
    assert ok.success
