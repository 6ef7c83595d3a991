"""Registry errors: the file, the key path (``sources[1] (shop).schema.amount``) and what was
expected, one line each; pydantic's errors are translated into that form."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from odf_core.text import QUOTE_LIMIT, quote

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Names of sources, aggregates, groups: asset key parts. fullmatch: "$" alone would accept a trailing newline.
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# pydantic's type errors, as ODF has always named the expected YAML type.
_TYPE_NAMES = {
    "bool_type": "bool",
    "string_type": "str",
    "int_type": "int",
    "float_type": "int or float",
    "list_type": "list",
    "dict_type": "dict",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def escape_controls(text: str) -> str:
    """Control characters as escapes (``\\n``): a key or value from a file cannot forge log lines."""
    return CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class RegistryError(ValueError):
    """A registry file that cannot be used; the message names the file, the key and the expectation.
    Control characters are escaped in every message, whatever part of the file it quotes."""

    def __init__(self, message: str) -> None:
        super().__init__(escape_controls(str(message)))


def capped(text: str) -> str:
    """A key path or name from the file, cut like ``quote`` cuts values (a key can be megabytes)."""
    return text if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]}… ({len(text)} characters)"


def fail(file: Path, where: str, message: str) -> RegistryError:
    """The error for ``where`` (a key path) in ``file``; key paths hold names from the file: capped."""
    return RegistryError(f"{file}: {capped(where)}: {message}" if where else f"{file}: {message}")


def item_label(kind: str, index: int, raw: Any) -> str:
    """``sources[1] (shop_sales)``: the index, and the item's name once it is a valid one."""
    name = raw.get("name") if isinstance(raw, dict) else None
    label = f"{kind}[{index}]"
    return f"{label} ({name})" if isinstance(name, str) and NAME.fullmatch(name) else label


def key_path(loc: tuple[Any, ...], document: Any) -> str:
    """pydantic's ``loc`` as ODF's key path, walking ``document`` to label top-level list items."""
    path, node = "", document
    for depth, part in enumerate(loc):
        if part == "[key]":  # a dict key's own error: the path already names the key
            continue
        if isinstance(part, int):
            label = item_label(str(loc[depth - 1]), part, node[part] if isinstance(node, list) else None)
            path = label if depth == 1 else f"{path}[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
        node = _child(node, part)
    return path


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def problem(error: dict[str, Any], allowed_keys: list[str] | None) -> str:
    """What was expected, in ODF's words, for one pydantic error."""
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(error["loc"][-1]), allowed_keys or [], n=1)
        close = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown key (expected one of {sorted(allowed_keys or [])}){close}"
    if kind == "literal_error":
        choices = [choice.strip("'") for choice in error["ctx"]["expected"].replace(" or ", ", ").split(", ")]
        noun = error.get("ctx", {}).get("noun")
        return (
            f"unknown {noun} {quote(given)} (expected one of {choices})"
            if noun
            else f"expected one of {choices}, got {quote(given)}"
        )
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, got {type(given).__name__} {quote(given)}"
    if kind == "odf":  # ODF's own validators word their message in full
        return str(error["msg"])
    return f"{error['msg'][:1].lower()}{error['msg'][1:]}, got {quote(given)}"
