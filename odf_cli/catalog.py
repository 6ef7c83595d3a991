"""A wrong ``--select`` refused at once: the asset catalog (keys, groups, tags, kinds, owners) of the
last definitions the CLI loaded, kept in the instance folder and checked without importing Dagster.

The catalog is valid while the code and the registry files it was built from are unchanged (their
sizes and modification times are its fingerprint); otherwise the selection is checked by Dagster
after loading the definitions, which then writes a fresh catalog. Only the common selection forms
are checked here (keys with ``*``, ``key:``, ``group:``, ``tag:``, ``kind:``, ``owner:``, ``+``/``*``
up/downstream, comma-separated unions); anything else is left to Dagster.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

from odf_cli.main import CommandError
from odf_resources import settings

CATALOG_FILE = "odf-asset-catalog.json"
CODE_PACKAGES = ("odf", "odf_assets", "odf_resources", "odf_sensors", "odf_core")
BUILT_IN_REGISTRY = Path(__file__).resolve().parents[1] / "odf_assets" / "sources" / "sources.yaml"
_GRAPH_TRAVERSAL = re.compile(r"^[\d+*]+|[\d+*]+$")
_OTHER_SYNTAX = re.compile(r"[\s()]")


def fingerprint() -> str:
    """Sizes and modification times of the code and registry files the definitions are built from."""
    code_root = Path(__file__).resolve().parents[1]
    files = [path for package in CODE_PACKAGES for path in sorted((code_root / package).rglob("*.py"))]
    files += [BUILT_IN_REGISTRY, *settings.extra_registry_paths()]
    digest = hashlib.sha256()
    for path in files:
        try:
            stat = path.stat()
            digest.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}:missing\n".encode())
    return digest.hexdigest()


def write(home: Path, assets: dict[str, dict]) -> None:
    """``assets``: key → {group, tags, kinds, owners}, as loaded from the definitions."""
    target = home / CATALOG_FILE
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps({"fingerprint": fingerprint(), "assets": assets}, sort_keys=True))
    temporary.replace(target)


def read(home: Path) -> dict[str, dict] | None:
    """The cached catalog when it matches the current code and registries."""
    try:
        cached = json.loads((home / CATALOG_FILE).read_text())
    except (OSError, ValueError):
        return None
    return cached["assets"] if cached.get("fingerprint") == fingerprint() else None


def _unquote(value: str) -> str:
    return value.strip().strip("\"'")


def _matches(item: str, assets: dict[str, dict]) -> bool | None:
    """Whether ``item`` selects an asset of the catalog; None when the syntax is not checked here."""
    item = _GRAPH_TRAVERSAL.sub("", item.strip())
    if not item or _OTHER_SYNTAX.search(item):
        return None
    prefix, _, value = item.partition(":") if ":" in item else ("key", "", item)
    value = _unquote(value)
    if prefix == "key":
        return any(fnmatchcase(key, value) for key in assets)
    if prefix == "group":
        return any(fnmatchcase(asset.get("group") or "", value) for asset in assets.values())
    if prefix == "tag":
        name, has_value, wanted = value.partition("=")
        return any(
            name in asset.get("tags", {}) and (not has_value or asset["tags"][name] == _unquote(wanted))
            for asset in assets.values()
        )
    if prefix in ("kind", "owner"):
        return any(value in asset.get(f"{prefix}s", []) for asset in assets.values())
    return None


def refusal(item: str, keys: list[str], groups: list[str]) -> str:
    """The message for a selection item that selects nothing: the groups and the closest names."""
    bare = _unquote(_GRAPH_TRAVERSAL.sub("", item.strip()).split(":", 1)[-1])
    candidates = {key: key for key in keys} | {group: f"group:{group}" for group in groups}
    close = [candidates[name] for name in difflib.get_close_matches(bare, list(candidates), n=3, cutoff=0.5)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"--select {item.strip()!r} selects no assets (groups: {', '.join(sorted(groups))}){hint}"


def check_selection(home: Path, selection: str) -> None:
    """Raises CommandError for an item of ``selection`` that selects nothing in the cached catalog."""
    assets = read(home)
    if assets is None:
        return
    items = [item for item in selection.split(",") if item.strip()]
    for item in items:
        if _matches(item, assets) is False:
            groups = sorted({asset["group"] for asset in assets.values() if asset.get("group")})
            raise CommandError(refusal(item, sorted(assets), groups))
