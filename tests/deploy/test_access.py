"""Access control around ODF's Dagster: one service account per role with only the rights it uses,
NetworkPolicies that let only the webservers and the daemon reach the code server, a read-only
webserver for viewers and an Ingress example behind an authenticating proxy (off by default)."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.deploy.deploy_config import (
    CLUSTER_ENV,
    DAGSTER_YAML,
    HELM_README,
    HELM_SCHEMA_DIR,
    HELM_VALUES,
    K8S_VERSIONS,
    ROOT,
    load_yaml,
    validate_strict,
)
from tests.deploy.helm_schema import chart_validator, errors
from tests.deploy.test_helm_values import parent_values

ACCESS_DIR = ROOT / "helm" / "access"
INGRESS_EXAMPLE = ROOT / "helm" / "examples" / "ingress-auth-proxy.yaml"
RELEASE_LABELS = {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "odf"}
# The labels the official chart and dagster-k8s put on each kind of pod (release "odf").
POD_LABELS = {
    "webserver": {**RELEASE_LABELS, "component": "dagster-webserver"},
    "read-only webserver": {**RELEASE_LABELS, "component": "dagster-webserver-read-only"},
    "daemon": {**RELEASE_LABELS, "component": "dagster-daemon"},
    "code server": {**RELEASE_LABELS, "component": "user-deployments", "deployment": "odf"},
    "run pod": {"app.kubernetes.io/component": "run_worker", "app.kubernetes.io/part-of": "odf"},
    "step pod": {"app.kubernetes.io/component": "step_worker", "app.kubernetes.io/part-of": "odf"},
}


def manifests(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((ACCESS_DIR / name).read_text()) if doc]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and In/NotIn/Exists/DoesNotExist)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, allowed = expression["key"], expression["operator"], expression.get("values", [])
        if not {
            "In": labels.get(key) in allowed,
            "NotIn": labels.get(key) not in allowed,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]:
            return False
    return True


def may_connect(policies: list[dict], source: dict[str, str], target: dict[str, str], port: int) -> bool:
    """Whether NetworkPolicies let ``source`` open ``port`` on ``target`` (same namespace)."""
    applying = [
        p for p in policies if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], target)
    ]
    if not applying:
        return True  # a pod no policy selects accepts everything
    return any(
        any(selects(peer["podSelector"], source) for peer in rule.get("from", []) if "podSelector" in peer)
        and any(p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in rule.get("ports", []))
        for policy in applying
        for rule in policy["spec"].get("ingress", [])
    )


@pytest.fixture(scope="module")
def values():
    return load_yaml(HELM_VALUES)


def test_access_manifests_are_valid():
    for name in ("service-accounts.yaml", "network-policies.yaml"):
        for manifest in manifests(name):
            validate_strict(manifest)


def test_every_role_has_its_own_service_account(values):
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    [code] = values["dagster-user-deployments"]["deployments"]
    accounts = {
        "webserver and daemon": values["serviceAccount"]["name"],
        "code server": values["dagster-user-deployments"]["serviceAccount"]["name"],
        "run pods": launcher["runK8sConfig"]["podSpecConfig"]["serviceAccountName"],
        "step pods": dict(item.split("=", 1) for item in launcher["envVars"])["ODF_STEP_SERVICE_ACCOUNT"],
    }
    assert len(set(accounts.values())) == len(accounts), accounts
    # A global serviceAccountName would put the code server on the webserver/daemon account.
    assert "serviceAccountName" not in values["global"]
    assert {"name": "ODF_STEP_SERVICE_ACCOUNT", "value": accounts["step pods"]} in code["env"]
    # deploy/dagster.yaml's cluster environment uses the same accounts.
    assert CLUSTER_ENV["DAGSTER_K8S_SERVICE_ACCOUNT"] == accounts["run pods"]
    assert CLUSTER_ENV["ODF_STEP_SERVICE_ACCOUNT"] == accounts["step pods"]
    assert "{env: DAGSTER_K8S_SERVICE_ACCOUNT}" in DAGSTER_YAML.read_text()

    objects = manifests("service-accounts.yaml")
    created = {m["metadata"]["name"]: m for m in objects if m["kind"] == "ServiceAccount"}
    assert set(created) == {accounts["run pods"], accounts["step pods"]}
    assert created[accounts["step pods"]]["automountServiceAccountToken"] is False  # no API token
    # Kubernetes rights only where runs are launched: the run pods' account, in the namespace only.
    bindings = [m for m in objects if m["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert [(b["kind"], [s["name"] for s in b["subjects"]]) for b in bindings] == [
        ("RoleBinding", [accounts["run pods"]])
    ]
    [role] = [m for m in objects if m["kind"] == "Role"]
    granted = {(resource, verb) for rule in role["rules"] for resource in rule["resources"] for verb in rule["verbs"]}
    assert ("jobs", "create") in granted and ("pods/log", "get") in granted
    assert not {resource for resource, _ in granted} & {"secrets", "configmaps", "roles", "rolebindings"}
    assert not {verb for _, verb in granted} & {"*", "escalate", "bind", "impersonate"}


def test_only_webservers_and_the_daemon_reach_the_code_server(values):
    policies = [m for m in manifests("network-policies.yaml") if m["kind"] == "NetworkPolicy"]
    [code] = values["dagster-user-deployments"]["deployments"]
    target = POD_LABELS["code server"]
    allowed = {name for name, labels in POD_LABELS.items() if may_connect(policies, labels, target, code["port"])}
    assert allowed == {"webserver", "read-only webserver", "daemon"}
    assert not may_connect(policies, POD_LABELS["webserver"], target, code["port"] + 1)  # only gRPC
    # The policies leave the other pods alone (the webserver still serves, runs still start).
    assert may_connect(policies, POD_LABELS["step pod"], POD_LABELS["webserver"], 80)


def test_read_only_webserver_and_an_ingress_behind_an_auth_proxy_off_by_default(values):
    assert values["dagsterWebserver"]["enableReadOnly"] is True
    assert not values.get("ingress", {}).get("enabled")  # nothing is exposed unless the operator opts in
    example = load_yaml(INGRESS_EXAMPLE)
    merged = copy.deepcopy(values)
    merged["ingress"] = example["ingress"]
    validator = chart_validator(HELM_SCHEMA_DIR / "values.schema.json", K8S_VERSIONS[0])
    assert errors(validator, parent_values(merged)) == []
    annotations = example["ingress"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-url"].startswith("https://")
    assert example["ingress"]["readOnlyDagsterWebserver"]["host"] != example["ingress"]["dagsterWebserver"]["host"]
    readme = HELM_README.read_text()
    assert "helm/examples/ingress-auth-proxy.yaml" in readme and "helm/access/" in readme
