"""Reading a registry file safely: a regular file of bounded size, parsed by libyaml without
anchors, aliases, deep nesting or keys written twice."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from odf_assets.sources.registry.errors import RegistryError, capped

# Registry input bounds (README, Security). A registry is a few kilobytes of declarations.
MAX_REGISTRY_BYTES = 4 << 20
MAX_YAML_DEPTH = 32
# libyaml (the C parser), with a pure-Python fallback where PyYAML was built without it.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _RefusedYaml(Exception):
    """Valid YAML that a registry must not use; the message says what and where."""


def _refuse_anchors_and_depth(text: str) -> None:
    """One pass over libyaml's events, before any node is built: anchors and aliases (a few hundred
    bytes of nested aliases, "billion laughs", expand to gigabytes wherever the document is walked
    or quoted; registries have no need for them) and nesting deeper than ``MAX_YAML_DEPTH``."""
    loader = _YamlLoader(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise _RefusedYaml(
                    f"line {event.start_mark.line + 1}: YAML anchors and aliases (&name, *name) are not allowed "
                    "in registries; write each value out"
                )
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise _RefusedYaml(
                        f"line {event.start_mark.line + 1}: nested more than {MAX_YAML_DEPTH} levels deep"
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    finally:
        loader.dispose()


def _refuse_duplicate_keys(file: Path, node: yaml.Node, path: str) -> None:
    """A key written twice in one mapping: YAML keeps the last silently, hiding the first. Keys are
    compared as the text written (``1`` and ``'1'`` are the same column once read as strings)."""
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            label = f"{path}[{index}]"
            if path == "sources" and isinstance(item, yaml.MappingNode):
                names = [
                    value.value
                    for key, value in item.value
                    if key.value == "name" and isinstance(value, yaml.ScalarNode)
                ]
                label += f" ({capped(names[0])})" if names else ""
            _refuse_duplicate_keys(file, item, label)
    elif isinstance(node, yaml.MappingNode):
        first_line: dict[Any, int] = {}
        for key, value in node.value:
            text = key.value if isinstance(key, yaml.ScalarNode) else f"<{key.tag}>"
            where = f"{path}.{text}" if path else str(text)
            identity = key.value if isinstance(key, yaml.ScalarNode) else id(key)
            if identity in first_line:
                raise RegistryError(
                    f"{file}: {capped(where)}: key written twice in one mapping (lines {first_line[identity]} and "
                    f"{key.start_mark.line + 1}); YAML would silently keep only the last"
                )
            first_line[identity] = key.start_mark.line + 1
            _refuse_duplicate_keys(file, value, where)


def _read_registry_text(file: Path) -> str:
    """The file's text: a regular file (never a directory, FIFO or device, which would fail raw,
    block or never end) of at most ``MAX_REGISTRY_BYTES``."""
    try:
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise RegistryError(f"{file}: is a directory, not a registry file") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise RegistryError(f"{file}: is {kind}; a registry must be a regular file")
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(MAX_REGISTRY_BYTES + 1)
    if len(data) > MAX_REGISTRY_BYTES:
        raise RegistryError(f"{file}: larger than the registry limit of {MAX_REGISTRY_BYTES} bytes")
    return data.decode("utf-8")


def read_yaml(file: Path) -> Any:
    """The registry document, refusing anchors, aliases, deep nesting and duplicate keys (see above)."""
    text = _read_registry_text(file)
    _refuse_anchors_and_depth(text)
    loader = _YamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(file, node, "")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_document(file: Path) -> Any:
    """``read_yaml``, with every way a file can be unreadable as one RegistryError line."""
    try:
        return read_yaml(file)
    except FileNotFoundError as error:
        raise RegistryError(f"{file}: registry file not found") from error
    except OSError as error:  # permissions, a dangling link, …: one line, not a traceback
        raise RegistryError(f"{file}: cannot read: {error.strerror or type(error).__name__}") from None
    except yaml.YAMLError as error:
        raise RegistryError(f"{file}: not valid YAML: {error}") from error
    except _RefusedYaml as error:
        raise RegistryError(f"{file}: {error}") from None
    except RecursionError:
        raise RegistryError(f"{file}: not valid YAML: nested too deeply") from None
    except UnicodeDecodeError as error:
        raise RegistryError(f"{file}: not UTF-8 text (byte {error.start})") from None
