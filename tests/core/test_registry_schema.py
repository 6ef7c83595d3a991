"""The JSON schema editors use for registry files is the models' own, and accepts every registry
ODF ships; editors find it through each file's ``yaml-language-server`` comment."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from odf_assets.sources.registry import DEFAULT_REGISTRY
from odf_assets.sources.registry.models import registry_json_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "examples" / "registry.schema.json"
REGISTRIES = [DEFAULT_REGISTRY, ROOT / "examples" / "sources.yaml", ROOT / "examples" / "consolidations.yaml"]
REGENERATE = (
    'uv run python -c "import json; from odf_assets.sources.registry.models import registry_json_schema as s; '
    "open('examples/registry.schema.json', 'w').write(json.dumps(s(), indent=2, ensure_ascii=False) + '\\n')\""
)


def test_the_committed_schema_matches_the_models():
    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == registry_json_schema(), f"regenerate it: {REGENERATE}"


def test_shipped_registries_validate_and_name_the_schema():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    for registry in REGISTRIES:
        text = registry.read_text(encoding="utf-8")
        schema_comment = next(line for line in text.splitlines() if "yaml-language-server" in line)
        named = (registry.parent / schema_comment.split("$schema=", 1)[1].strip()).resolve()
        assert named == SCHEMA, f"{registry}: {schema_comment}"
        # As an editor sees the file: YAML dates are strings in JSON.
        document = json.loads(json.dumps(yaml.safe_load(text), default=str))
        problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
        assert not problems, f"{registry}: {problems[:3]}"


def test_the_schema_refuses_what_the_models_refuse():
    validator = jsonschema.Draft202012Validator(registry_json_schema())
    source = {"name": "shop", "description": "d", "license": "CC0", "owner": "o", "format": "csv"}
    source |= {"schema": {"id": "string"}, "start_date": "2024-01-01", "url_template": "x/{date}.csv"}
    assert validator.is_valid({"sources": [source]})
    for bad in ({"colour": "red"}, {"format": "xlsx"}, {"name": "Shop"}, {"schema": {"id": "decimal"}}):
        assert not validator.is_valid({"sources": [source | bad]}), bad
