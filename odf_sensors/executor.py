"""The step executor of every ODF job: under Kubernetes each step runs in its own pod, sized by the
op tags of odf_assets/k8s_config.py (see that module for why the executor, not run tags, carries it)."""

from __future__ import annotations

import dagster as dg

from odf_resources import settings


def step_executor() -> dg.ExecutorDefinition | None:
    """``k8s_job_executor`` when ``ODF_STEP_EXECUTOR=k8s``, ``in_process_executor`` when ``in_process``;
    None (Dagster's default) when unset.

    With ``ODF_STEP_SERVICE_ACCOUNT`` the step pods, which parse untrusted source data, run under
    that account without a Kubernetes API token; only the run pod keeps the right to launch Jobs."""
    choice = settings.step_executor_choice()
    if choice is None:
        return None
    if choice == "in_process":
        return dg.in_process_executor
    from dagster_k8s import k8s_job_executor  # only in the cluster: the kubernetes client is a slow import

    account = settings.step_service_account()
    if account is None:
        return k8s_job_executor
    pod_spec = {"service_account_name": account, "automount_service_account_token": False}
    return k8s_job_executor.configured({"step_k8s_config": {"pod_spec_config": pod_spec}}, name="k8s")
