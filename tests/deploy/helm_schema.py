"""The official chart's values schema, tightened so that any key the chart does not know is an error.

Helm validates the *merged* values (chart defaults + ours) against ``values.schema.json``. We only
have our overlay, so ``required`` is dropped for maps (the defaults supply those keys), but kept for
list items (Helm replaces lists, so each of our list items must be complete). Objects whose schema
lists their properties get ``additionalProperties: false`` unless the chart says otherwise, which
turns every misspelt or invented key into a failure. The chart's ``$ref``s to Kubernetes 1.18
definitions resolve to the strict Kubernetes schemas shipped by ``kubernetes-validate``.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

K8S_REF_PREFIX = "https://kubernetesjsonschema.dev/v1.18.0/_definitions.json#/definitions/"
K8S_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
CONDITIONAL_KEYWORDS = ("if", "then", "else")
# "<k8s definition>+<extra keys>" -> the chart's extra properties, filled while inlining.
EXTENDED_K8S_DEFINITIONS: dict[str, dict[str, Any]] = {}


def _inline_local_refs(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/definitions/"):
            # Draft 7: keywords next to $ref are ignored, so the definition replaces the node.
            return _inline_local_refs(copy.deepcopy(definitions[ref.removeprefix("#/definitions/")]), definitions)
        if ref.startswith(K8S_REF_PREFIX):
            name = ref.removeprefix(K8S_REF_PREFIX)
            if node.get("properties"):
                # The chart adds its own keys to a Kubernetes object (startupProbe.enabled): a
                # Kubernetes definition extended by them, which the strict one would refuse.
                name = f"{name}+{'+'.join(sorted(node['properties']))}"
                EXTENDED_K8S_DEFINITIONS[name] = node["properties"]
            return {"$ref": f"{K8S_DEFINITIONS_ID}#/$defs/{name}"}
        return {key: _inline_local_refs(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_local_refs(item, definitions) for item in node]
    return node


def _tighten(node: Any, in_list_item: bool) -> None:
    if not isinstance(node, dict) or "$ref" in node:
        return
    if node.get("properties"):
        if not in_list_item:
            node.pop("required", None)
        node.setdefault("additionalProperties", False)
    for key, value in node.items():
        if key in CONDITIONAL_KEYWORDS:
            continue  # "then: {properties: {config: {required: [...]}}}" fragments stay as written
        if key == "items":
            _tighten(value, in_list_item=True)
        elif key == "properties":
            for child in value.values():
                _tighten(child, in_list_item)
        elif key in ("anyOf", "allOf", "oneOf"):
            for child in value:
                _tighten(child, in_list_item)
        elif key == "additionalProperties":
            _tighten(value, in_list_item)


def strict_chart_schema(path: Path) -> dict[str, Any]:
    raw = json.loads(path.read_text())
    definitions = raw.pop("definitions", {})
    schema = _inline_local_refs(raw, definitions)
    _tighten(schema, in_list_item=False)
    return schema


def kubernetes_definitions(version: str) -> dict[str, Any]:
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema" / f"v{version}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    for name, extra in EXTENDED_K8S_DEFINITIONS.items():
        extended = copy.deepcopy(definitions["$defs"][name.split("+")[0]])
        extended["properties"] = {**extended.get("properties", {}), **extra}
        definitions["$defs"][name] = extended
    return definitions


def chart_validator(path: Path, k8s_version: str) -> jsonschema.Draft7Validator:
    schema = strict_chart_schema(path)  # first: it records the extended Kubernetes definitions
    k8s = Resource.from_contents(kubernetes_definitions(k8s_version))  # draft 2020-12, by its $schema
    registry = Registry().with_resource(K8S_DEFINITIONS_ID, k8s)
    return jsonschema.Draft7Validator(schema, registry=registry)


def errors(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> list[str]:
    return sorted(
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(values)
    )
