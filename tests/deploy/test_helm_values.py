"""helm/values.yaml: only keys the official chart knows, consistent with dagster.yaml and the docs."""

from __future__ import annotations

import copy
import json
import re
import tomllib

import pytest
import yaml

from tests.deploy.deploy_config import (
    DAGSTER_YAML,
    HELM_README,
    HELM_SCHEMA_DIR,
    HELM_VALUES,
    K8S_VERSIONS,
    ROOT,
    load_yaml,
    locked_version,
)
from tests.deploy.helm_instance import RenderError, merge_values, render_daemon_instance
from tests.deploy.helm_schema import chart_validator, errors

MAIN_SCHEMA = HELM_SCHEMA_DIR / "values.schema.json"
SUBCHART_SCHEMA = HELM_SCHEMA_DIR / "dagster-user-deployments.values.schema.json"
# Keys the parent chart reads to decide whether to render the subchart; not part of its own values.
PARENT_ONLY_KEYS = ("enabled", "enableSubchart")
# Keys only the subchart's schema declares (the parent passes them through).
SUBCHART_ONLY_KEYS = ("serviceAccount",)


def parent_values(values):
    """A copy of ``values`` as the parent chart's schema sees them: the subchart's own keys (its
    service account) are checked by the subchart's schema."""
    parent = copy.deepcopy(values)
    for key in SUBCHART_ONLY_KEYS:
        parent["dagster-user-deployments"].pop(key)
    return parent


@pytest.fixture(scope="module")
def values():
    return load_yaml(HELM_VALUES)


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_values_use_only_keys_of_the_official_chart(values, k8s_version):
    assert errors(chart_validator(MAIN_SCHEMA, k8s_version), parent_values(values)) == []


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
def test_user_deployment_values_satisfy_the_subchart_schema(values, k8s_version):
    subchart = {k: v for k, v in values["dagster-user-deployments"].items() if k not in PARENT_ONLY_KEYS}
    subchart["global"] = values["global"]  # Helm hands the parent's globals to the subchart
    assert errors(chart_validator(SUBCHART_SCHEMA, k8s_version), subchart) == []


# case -> (how to break the values, what the error must mention)
BROKEN_VALUES = {
    "misspelt top-level key": (lambda v: v.update(dagsterWebServer={}), "'dagsterWebServer' was unexpected"),
    "misspelt webserver option": (
        lambda v: v["dagsterWebserver"].update(enableReadonly=True),
        "'enableReadonly' was unexpected",
    ),
    "unknown user-deployment key": (
        lambda v: v["dagster-user-deployments"]["deployments"][0].update(grpcArgs=["-m", "x"]),
        "'grpcArgs' was unexpected",
    ),
    "unknown Kubernetes resources field": (
        lambda v: v["dagsterDaemon"].update(resources={**v["dagsterDaemon"]["resources"], "limitz": {"cpu": "1"}}),
        "'limitz' was unexpected",
    ),
    "unknown container securityContext field": (
        # A new dict: values.yaml shares one securityContext (a YAML anchor) between components.
        lambda v: v["dagster-user-deployments"]["deployments"][0].update(
            securityContext={**v["dagster-user-deployments"]["deployments"][0]["securityContext"], "runAsRoot": False}
        ),
        "'runAsRoot' was unexpected",
    ),
    "incomplete user deployment (lists are not merged)": (
        lambda v: v["dagster-user-deployments"]["deployments"][0].pop("port"),
        "'port' is a required",
    ),
    "S3 logs without their config block": (
        lambda v: v["computeLogManager"]["config"].pop("s3ComputeLogManager"),
        "'s3ComputeLogManager' is a required",
    ),
    "queue limit without a limit": (
        lambda v: v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"].update(
            tagConcurrencyLimits=[{"key": "odf/queue"}]
        ),
        "queuedRunCoordinator",
    ),
    "misspelt queue option": (
        lambda v: v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"].update(maxConcurrentRun=3),
        "maxConcurrentRun",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_VALUES))
def test_strict_schema_rejects_what_the_chart_would_ignore_or_refuse(values, case):
    break_values, expected = BROKEN_VALUES[case]
    broken = parent_values(values)
    break_values(broken)
    found = errors(chart_validator(MAIN_SCHEMA, K8S_VERSIONS[0]), broken)
    assert found and all(expected in error for error in found), found


def test_chart_version_is_pinned_to_the_locked_dagster(values):
    dagster = locked_version("dagster")
    readme = HELM_README.read_text()
    pins = re.findall(r"helm upgrade --install[^\n]*(?:\\\n[^\n]*)*?--version (\S+)", readme)
    assert pins and set(pins) == {dagster}, pins
    assert f"version {dagster}" in HELM_VALUES.read_text().splitlines()[0] + HELM_VALUES.read_text().splitlines()[1]
    # Webserver and daemon images default to the chart version, i.e. the locked Dagster.
    assert "image" not in values["dagsterWebserver"] and "image" not in values["dagsterDaemon"]


def test_external_postgres_via_secret_with_the_psycopg2_scheme(values):
    assert values["postgresql"]["enabled"] is False
    assert values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    instance = load_yaml(DAGSTER_YAML)
    assert values["postgresql"]["postgresqlScheme"] == instance["run_storage"]["config"]["postgres_db"]["scheme"]


DAEMON_KEYS = ("run_coordinator", "run_monitoring", "run_retries", "concurrency")


def test_rendered_daemon_settings_equal_dagster_yaml(values):
    """Every run-coordinator, monitoring, retry and pool key, as the chart renders it, equals deploy/dagster.yaml."""
    instance = load_yaml(DAGSTER_YAML)
    rendered = render_daemon_instance(values)
    assert set(rendered) == set(DAEMON_KEYS)
    assert rendered["run_coordinator"]["class"] == instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert rendered["run_coordinator"].get("config") == instance["run_coordinator"].get("config")
    for key in DAEMON_KEYS[1:]:
        assert rendered[key] == instance[key], key
    # The settings the issue is about, spelled out.
    assert rendered["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert rendered["run_monitoring"]["cancel_timeout_seconds"] == 300
    assert rendered["run_monitoring"]["max_resume_run_attempts"] == 0


def test_both_instance_configs_pass_dagsters_own_validation(values, tmp_path):
    """Dagster's instance schema rejects unknown or misspelt keys in the rendered and the hand-written file."""
    from dagster._core.instance.config import dagster_instance_config

    for name, config in (("helm", render_daemon_instance(values)), ("deploy", load_yaml(DAGSTER_YAML))):
        home = tmp_path / name
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        dagster_instance_config(str(home))
    (tmp_path / "typo").mkdir()
    (tmp_path / "typo" / "dagster.yaml").write_text(
        yaml.safe_dump({"run_retries": {"enabled": True, "retry_on_asset_or_op_failures": False}})
    )
    with pytest.raises(Exception, match="retry_on_asset_or_op_failures"):
        dagster_instance_config(str(tmp_path / "typo"))


# case -> (how to break the values, what the error must mention); the chart's schema accepts all of these.
UNRENDERED_VALUES = {
    "misspelt runMonitoring key": (
        lambda d: d["runMonitoring"].update(startTimeoutSecond=60),
        "runMonitoring.startTimeoutSecond",
    ),
    "retry option the chart cannot render": (
        lambda d: d["runRetries"].update(retryOnAssetOrOpFailure=False),
        "runRetries.retryOnAssetOrOpFailure",
    ),
    "run_retries rendered twice": (lambda d: d["runRetries"].update(enabled=True, maxRetries=2), "run_retries"),
}


@pytest.mark.parametrize("case", sorted(UNRENDERED_VALUES))
def test_keys_the_chart_would_drop_or_duplicate_fail(values, case):
    break_daemon, expected = UNRENDERED_VALUES[case]
    broken = parent_values(values)
    break_daemon(broken["dagsterDaemon"])
    assert errors(chart_validator(MAIN_SCHEMA, K8S_VERSIONS[0]), broken) == []  # the schema lets it through
    with pytest.raises(RenderError, match=expected):
        render_daemon_instance(broken)


def test_other_instance_settings_match_dagster_yaml(values):
    instance = load_yaml(DAGSTER_YAML)
    logs = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    assert values["computeLogManager"]["type"] == instance["compute_logs"]["class"]
    assert logs["skipEmptyFiles"] == instance["compute_logs"]["config"]["skip_empty_files"]
    assert logs["uploadInterval"] == instance["compute_logs"]["config"]["upload_interval"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["failPodOnRunFailure"] is instance["run_launcher"]["config"]["fail_pod_on_run_failure"] is True
    assert launcher["labels"] == instance["run_launcher"]["config"]["labels"]


def test_user_deployment_serves_the_project_definitions(values):
    [deployment] = values["dagster-user-deployments"]["deployments"]
    # The chart's deployment-user.yaml: args = dagster api grpc -h 0.0.0.0 -p <port> <dagsterApiGrpcArgs...>
    args = ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", str(deployment["port"]), *deployment["dagsterApiGrpcArgs"]]
    module = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    assert args == ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", module]
    assert deployment["name"] == load_yaml(ROOT / "workspace.yaml")["load_from"][0]["python_module"]["location_name"]
    assert {"name": "odf-env"} in deployment["envSecrets"]
    assert values["dagsterWebserver"]["envSecrets"] == [{"name": "odf-env"}]  # it reads compute logs from S3


def test_readme_creates_every_secret_the_values_reference(values):
    readme = HELM_README.read_text()
    created = set(re.findall(r"kubectl create secret generic (\S+)", readme))
    referenced = {values["global"]["postgresqlSecretName"]}
    for section in (
        values["dagsterWebserver"],
        values["runLauncher"]["config"]["k8sRunLauncher"],
        *values["dagster-user-deployments"]["deployments"],
    ):
        referenced |= {secret["name"] for secret in section.get("envSecrets", [])}
    assert referenced <= created, referenced - created
    assert "--from-literal=postgresql-password=" in readme  # the key the chart reads


def test_readme_graphql_requests_are_valid_for_the_locked_dagster():
    from dagster_graphql.schema import create_schema
    from graphql import parse, validate
    from graphql.execution.values import get_variable_values

    from odf_sensors.jobs import DAILY_PIPELINE_JOB

    schema = create_schema().graphql_schema
    payloads = [json.loads(text) for text in re.findall(r"<<'JSON'\n(.*?)\nJSON", HELM_README.read_text(), re.S)]
    assert len(payloads) == 2
    for payload in payloads:
        document = parse(payload["query"])
        assert validate(schema, document) == []
        [operation] = document.definitions
        assert isinstance(get_variable_values(schema, operation.variable_definitions, payload["variables"]), dict)
    backfill, run = (payload["variables"]["params"] for payload in payloads)
    assert backfill["assetSelection"] == [{"path": ["raw", "iowa_liquor_sales"]}]
    location = load_yaml(ROOT / "workspace.yaml")["load_from"][0]["python_module"]["location_name"]
    assert run["selector"]["repositoryLocationName"] == location and run["selector"]["jobName"] == DAILY_PIPELINE_JOB


GIT_SHA = re.compile(r"^[0-9a-f]{40}$")


def is_immutable(image: dict) -> bool:
    return bool(GIT_SHA.match(image["tag"])) or "@sha256:" in image["repository"]


def test_user_code_image_is_immutable(values):
    """The user-code image is tagged by the full git SHA it was built from (helm/README.md
    "Releasing"); reused tags such as a version or `latest` are refused."""
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert is_immutable(deployment["image"]) and deployment["image"]["pullPolicy"] == "IfNotPresent"
    for reused in ("0.1.0", "latest", "4a83e0e", "main"):
        assert not is_immutable({**deployment["image"], "tag": reused}), reused
    assert '--set-string "dagster-user-deployments.deployments[0].image.tag=$SHA"' in HELM_README.read_text()


# What a chart release may default under queuedRunCoordinator: each key the template reads.
CHART_QUEUE_DEFAULTS = {
    "maxConcurrentRuns": 10,
    "tagConcurrencyLimits": [{"key": "k", "limit": 1}],
    "dequeueIntervalSeconds": 5,
    "dequeueUseThreads": True,
    "dequeueNumWorkers": 4,
    "blockOpConcurrencyLimitedRuns": {"enabled": True, "opConcurrencySlotBuffer": 1},
}


@pytest.mark.parametrize("key", sorted(CHART_QUEUE_DEFAULTS))
def test_chart_defaults_cannot_add_a_run_limit_dagster_refuses(values, key, tmp_path):
    """Helm merges the chart's defaults under ODF's values: whatever queue key the chart defaults,
    the rendered coordinator stays empty and Dagster accepts the instance with its pools; with an
    empty map ({}) instead of nulls the default comes through, the chart renders
    max_concurrent_runs: -1 next to concurrency.runs, and Dagster refuses to start."""
    from dagster._core.instance.config import dagster_instance_config

    path = ("dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator")
    defaults: dict = {path[-1]: {key: CHART_QUEUE_DEFAULTS[key]}}
    for name in reversed(path[:-1]):
        defaults = {name: defaults}
    merged = merge_values(defaults, values)
    rendered = render_daemon_instance(merged)
    assert "config" not in rendered["run_coordinator"]
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "dagster.yaml").write_text(yaml.safe_dump(rendered))
    dagster_instance_config(str(tmp_path / "ok"))

    empty = copy.deepcopy(values)
    empty["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] = {}
    broken = render_daemon_instance(merge_values(defaults, empty))
    expected_limit = CHART_QUEUE_DEFAULTS[key] if key == "maxConcurrentRuns" else -1
    assert broken["run_coordinator"]["config"]["max_concurrent_runs"] == expected_limit
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "dagster.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(Exception, match="max_concurrent_runs"):
        dagster_instance_config(str(tmp_path / "broken"))
