"""Job manifests made by dagster-k8s from ODF's config, validated strictly against Kubernetes' schemas."""

from __future__ import annotations

import json

import dagster as dg
import kubernetes_validate
import pytest
from dagster._core.execution.api import create_execution_plan
from dagster._core.execution.context.system import PlanData, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import create_context_free_log_manager
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.init import InitExecutorContext
from dagster._core.executor.step_delegating.step_handler.base import StepHandlerContext
from dagster._core.launcher import LaunchRunContext
from dagster._grpc.types import ExecuteStepArgs
from dagster_k8s import k8s_job_executor

from odf_assets.k8s_config import HEAVY_ASSET_OP_TAGS, HEAVY_CONTAINER_RESOURCES
from odf_resources.constants import ACQUISITION_TAGS
from odf_sensors.executor import step_executor
from tests.deploy.deploy_config import (
    CLUSTER_ENV,
    HELM_VALUES,
    K8S_VERSIONS,
    NAMESPACE,
    USER_CODE_IMAGE,
    build_launcher,
    container,
    env_from_names,
    launcher_config_from_helm,
    load_yaml,
    offline_run_job,
    render_instance_yaml,
    validate_strict,
)
from tests.deploy.pod_security import job_pod_spec, restricted_violations

K8S_CONFIG_TAG = "dagster-k8s/config"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


@dg.op(tags=HEAVY_ASSET_OP_TAGS)
def heavy_step():
    """Stands in for a heavy ODF asset's step."""
    return 1


@dg.job(executor_def=k8s_job_executor)
def heavy_job():
    heavy_step()


@pytest.fixture
def pod_env(monkeypatch):
    for name, value in {**CLUSTER_ENV, "DAGSTER_HOME": "/opt/dagster/dagster_home"}.items():
        monkeypatch.setenv(name, value)


def yaml_launcher(kubeconfig):
    return build_launcher(render_instance_yaml(kubeconfig)["run_launcher"]["config"])


def helm_launcher(kubeconfig):
    return build_launcher(launcher_config_from_helm(load_yaml(HELM_VALUES), kubeconfig))


def test_run_job_from_dagster_yaml_is_a_valid_job(pod_env, kubeconfig):
    manifest = offline_run_job(yaml_launcher(kubeconfig))
    validate_strict(manifest)

    run_container = container(manifest)
    pod_spec = manifest["spec"]["template"]["spec"]
    assert run_container["image"] == USER_CODE_IMAGE
    assert run_container["resources"] == load_yaml(HELM_VALUES)["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    assert env_from_names(manifest) == {"configMapRef": ["odf-dagster-env"], "secretRef": ["odf-env"]}
    password = next(env for env in run_container["env"] if env["name"] == "DAGSTER_PG_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "odf-dagster-postgresql", "key": "postgresql-password"}
    assert run_container["securityContext"]["runAsNonRoot"] is True
    assert run_container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod_spec["serviceAccountName"] == CLUSTER_ENV["DAGSTER_K8S_SERVICE_ACCOUNT"]
    assert pod_spec["restartPolicy"] == "Never" and manifest["spec"]["backoffLimit"] == 0
    assert manifest["metadata"]["labels"]["app.kubernetes.io/part-of"] == "odf"


def test_run_job_from_helm_values_matches_dagster_yaml(pod_env, kubeconfig):
    from_helm = offline_run_job(helm_launcher(kubeconfig))
    validate_strict(from_helm)
    from_yaml = offline_run_job(yaml_launcher(kubeconfig))
    for field in ("resources", "securityContext", "imagePullPolicy", "image"):
        assert container(from_helm)[field] == container(from_yaml)[field], field
    assert env_from_names(from_helm)["secretRef"] == env_from_names(from_yaml)["secretRef"]


def test_every_odf_job_runs_steps_in_pods_sized_by_their_op_tags(monkeypatch):
    """With ODF_STEP_EXECUTOR=k8s (as helm/values.yaml sets it) every job ODF defines, the implicit
    asset job the UI and backfills use included, runs its steps with k8s_job_executor, and the heavy
    assets' steps carry the heavy sizing."""
    from odf.definitions import build_definitions

    monkeypatch.setenv("ODF_STEP_EXECUTOR", "k8s")
    monkeypatch.setenv("ODF_STORAGE", "s3://odf-data/odf")  # pods refuse local storage
    defs = build_definitions()
    jobs = [defs.resolve_implicit_global_asset_job_def(), *(defs.resolve_job_def(job.name) for job in defs.jobs)]
    assert {job.executor_def.name for job in jobs} == {k8s_job_executor.name}
    asset_job = defs.resolve_implicit_global_asset_job_def()
    heavy = {
        node.name: node.tags[K8S_CONFIG_TAG]
        for node in asset_job.nodes_in_topological_order
        if node.tags.get(K8S_CONFIG_TAG)
    }
    assert set(heavy) == {"raw__iowa_liquor_sales", "sales__cleaned_sales"}
    for tag in heavy.values():
        assert (json.loads(tag) if isinstance(tag, str) else tag) == HEAVY_ASSET_OP_TAGS[K8S_CONFIG_TAG]
    monkeypatch.delenv("ODF_STEP_EXECUTOR")
    default = build_definitions().resolve_implicit_global_asset_job_def().executor_def
    assert default.name not in (k8s_job_executor.name, dg.in_process_executor.name)
    monkeypatch.setenv("ODF_STEP_EXECUTOR", "in_process")
    defs = build_definitions()
    jobs = [defs.resolve_implicit_global_asset_job_def(), *(defs.resolve_job_def(job.name) for job in defs.jobs)]
    assert {job.executor_def.name for job in jobs} == {dg.in_process_executor.name}


def launch_heavy_job_run(instance, tags):
    origin = dg.reconstructable(heavy_job).get_python_origin()
    # What the Helm user deployment reports: the gRPC server's DAGSTER_CURRENT_IMAGE.
    origin = origin._replace(repository_origin=origin.repository_origin._replace(container_image=USER_CODE_IMAGE))
    return instance.create_run_for_job(heavy_job, tags=tags, job_code_origin=origin)


@pytest.mark.timeout(120)
def test_k8s_run_launcher_posts_a_valid_job_to_the_api(prod_instance, k8s_api):
    run = launch_heavy_job_run(prod_instance, tags=ACQUISITION_TAGS)
    prod_instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))

    assert not k8s_api.unexpected
    [created] = k8s_api.jobs
    assert created.namespace == NAMESPACE
    assert created.authorization == f"Bearer {k8s_api.token}"
    validate_strict(created.body)
    run_container = container(created.body)
    assert run_container["image"] == USER_CODE_IMAGE
    assert run_container["args"][:3] == ["dagster", "api", "execute_run"]
    assert json.loads(run_container["args"][3])["set_exit_code_on_failure"] is True  # fail_pod_on_run_failure
    assert created.body["metadata"]["labels"]["dagster/run-id"] == run.run_id
    # The launch is recorded in Postgres like any other run event.
    assert prod_instance.get_run_by_id(run.run_id).tags["dagster/image"] == USER_CODE_IMAGE
    messages = [entry.message for entry in prod_instance.all_logs(run.run_id)]
    assert "[K8sRunLauncher] Kubernetes run worker job created" in messages


def step_handler_context(instance, run, executor):
    plan = create_execution_plan(heavy_job)
    plan_context = PlanOrchestrationContext(
        plan_data=PlanData(
            job=dg.reconstructable(heavy_job),
            dagster_run=run,
            instance=instance,
            execution_plan=plan,
            raise_on_error=True,
        ),
        log_manager=create_context_free_log_manager(instance, run),
        executor=executor,
        output_capture=None,
    )
    args = ExecuteStepArgs(run.job_code_origin, run.run_id, ["heavy_step"])
    return StepHandlerContext(
        instance=instance, plan_context=plan_context, steps=plan.steps, execute_step_args=args, dagster_run=run
    )


@pytest.mark.timeout(120)
def test_k8s_job_executor_posts_a_valid_heavy_step_job(prod_instance, k8s_api, monkeypatch):
    """ODF's step executor (ODF_STEP_EXECUTOR=k8s with ODF_STEP_SERVICE_ACCOUNT, as the values set
    them) posts a valid, restricted step Job under the step account, without an API token."""
    monkeypatch.setenv("ODF_STEP_EXECUTOR", "k8s")
    monkeypatch.setenv("ODF_STEP_SERVICE_ACCOUNT", CLUSTER_ENV["ODF_STEP_SERVICE_ACCOUNT"])
    odf_executor = step_executor()
    run = launch_heavy_job_run(prod_instance, tags={})
    executor = odf_executor.executor_creation_fn(
        InitExecutorContext(
            job=dg.reconstructable(heavy_job),
            executor_def=odf_executor,
            executor_config=odf_executor.config_schema.resolve_config({}).value["config"],
            instance=prod_instance,
        )
    )
    assert executor.retries == RetryMode.ENABLED
    list(executor._step_handler.launch_step(step_handler_context(prod_instance, run, executor)))  # noqa: SLF001

    assert not k8s_api.unexpected
    [created] = k8s_api.jobs
    assert created.namespace == NAMESPACE
    validate_strict(created.body)
    step_container = container(created.body)
    assert step_container["resources"] == HEAVY_CONTAINER_RESOURCES
    assert step_container["image"] == USER_CODE_IMAGE
    assert {"name": "DAGSTER_RUN_STEP_KEY", "value": "heavy_step"} in step_container["env"]
    assert created.body["spec"]["template"]["metadata"]["annotations"][SAFE_TO_EVICT] == "false"
    assert created.body["metadata"]["labels"]["app.kubernetes.io/component"] == "step_worker"
    pod = job_pod_spec(created.body)
    assert restricted_violations(pod, "step pod") == []
    assert pod["serviceAccountName"] == "odf-step" and pod["automountServiceAccountToken"] is False


def test_broken_container_override_is_rejected(pod_env, kubeconfig):
    launcher = yaml_launcher(kubeconfig)
    broken = {K8S_CONFIG_TAG: json.dumps({"container_config": {"resourcez": HEAVY_CONTAINER_RESOURCES}})}
    # dagster-k8s refuses to build it, naming the field ...
    with pytest.raises(Exception, match="resourcez"):
        offline_run_job(launcher, tags=broken)
    # ... and the same unknown field in a manifest fails strict schema validation on every version,
    # which lenient validation would have let through.
    manifest = offline_run_job(launcher)
    container(manifest)["resourcez"] = HEAVY_CONTAINER_RESOURCES
    for version in K8S_VERSIONS:
        with pytest.raises(kubernetes_validate.ValidationError, match="resourcez"):
            kubernetes_validate.validate(manifest, version, strict=True)
        kubernetes_validate.validate(manifest, version, strict=False)
