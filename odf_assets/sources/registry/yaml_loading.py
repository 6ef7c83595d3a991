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


# The tags a plain registry's values resolve to, built by SafeLoader's own constructors.
_PLAIN_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "null", "bool", "int", "float", "timestamp")
)
_STR_TAG = "tag:yaml.org,2002:str"


class _NotPlain(Exception):
    """The document uses YAML beyond plain mappings, sequences and scalars (explicit tags, merge keys,
    keys that are not scalars, a key written twice, several documents): SafeLoader's own composer
    and constructor build it, and say what is wrong with it."""


class _PlainBuilder:
    """Python values from libyaml's events, as SafeLoader would construct them, for a document
    of plain mappings, sequences and scalars (what registries are): one pass over the events
    instead of composing every node and constructing it again (most of reading a large registry).
    Scalars are resolved and constructed by the loader's own resolver and constructors."""

    def __init__(self, loader):
        self.loader = loader
        self.root: Any = None
        self.documents = 0
        # Open collections: [container, pending key (mappings), key texts seen (mappings)].
        self.stack: list[list] = []
        # A plain scalar's tag depends on its text only: registries repeat most of theirs.
        self.plain_tags: dict[str, str] = {}

    def add(self, value: Any, key_text: str | None = None) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        container = frame[0]
        if container.__class__ is list:
            container.append(value)
        elif frame[1] is _NO_KEY:
            if key_text is None:  # a mapping or sequence as a key
                raise _NotPlain
            if key_text in frame[2]:  # written twice: the full walk names both lines
                raise _NotPlain
            frame[2].add(key_text)
            frame[1] = value
        else:
            container[frame[1]] = value
            frame[1] = _NO_KEY

    def scalar(self, event) -> None:
        tag = event.tag
        if tag is not None and tag != "!":
            raise _NotPlain
        value = event.value
        if event.implicit[0]:
            tag = self.plain_tags.get(value)
            if tag is None:
                tag = self.plain_tags[value] = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        else:
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
        if tag == _STR_TAG:
            self.add(value, value)
            return
        if tag not in _PLAIN_SCALAR_TAGS:  # e.g. a merge key (<<)
            raise _NotPlain
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        self.add(self.loader.yaml_constructors[tag](self.loader, node), value)

    def start(self, event, container) -> None:
        if event.tag is not None and event.tag != "!":
            raise _NotPlain
        self.add(container)
        self.stack.append([container, _NO_KEY, set()])

    def end(self) -> None:
        self.stack.pop()


_NO_KEY = object()


def _read_events(text: str) -> Any:
    """One pass over libyaml's events, refusing anchors and aliases (a few hundred bytes of nested
    aliases, "billion laughs", expand to gigabytes wherever the document is walked or quoted;
    registries have no need for them) and nesting deeper than ``MAX_YAML_DEPTH`` before any node
    is built, and building the document when it is plain (``_PlainBuilder``). Returns the document,
    or ``_NotPlain`` when SafeLoader must build it."""
    loader = _YamlLoader(text)
    builder: _PlainBuilder | None = _PlainBuilder(loader)
    depth = 0
    scalar, alias = yaml.ScalarEvent, yaml.AliasEvent
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    mapping_end, sequence_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    try:
        while (event := loader.get_event()) is not None:
            kind = event.__class__
            if kind is alias or getattr(event, "anchor", None) is not None:
                raise _RefusedYaml(
                    f"line {event.start_mark.line + 1}: YAML anchors and aliases (&name, *name) are not allowed "
                    "in registries; write each value out"
                )
            if kind is mapping_start or kind is sequence_start:
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise _RefusedYaml(
                        f"line {event.start_mark.line + 1}: nested more than {MAX_YAML_DEPTH} levels deep"
                    )
            elif kind is mapping_end or kind is sequence_end:
                depth -= 1
            if builder is None:
                continue  # SafeLoader builds it; the events are still checked to the end
            try:
                if kind is scalar:
                    builder.scalar(event)
                elif kind is mapping_start:
                    builder.start(event, {})
                elif kind is sequence_start:
                    builder.start(event, [])
                elif kind is mapping_end or kind is sequence_end:
                    builder.end()
                elif kind is yaml.DocumentStartEvent:
                    builder.documents += 1
                    if builder.documents > 1:  # SafeLoader says "expected a single document"
                        raise _NotPlain
            except _NotPlain:
                builder = None
    finally:
        loader.dispose()
    return _NotPlain if builder is None else builder.root


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
    document = _read_events(text)
    if document is not _NotPlain:
        return document
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
