"""One line per invalid setting: the variable, its value (credentials redacted) and what is expected,
worded from the model's own types and bounds, so a new field needs no message of its own."""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic loads with the model, on first use
    from pydantic import ValidationError
    from pydantic.fields import FieldInfo

ENV_PREFIX = "ODF_"
REDACTED = "…"
# Values quoted in errors are cut here: a variable can hold megabytes.
QUOTE_LIMIT = 200


class SettingsError(ValueError):
    """An ODF variable with a value ODF cannot use; the message is one line."""


def variable_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _extra(info: FieldInfo) -> dict[str, Any]:
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}


def _base_annotation(annotation: Any) -> Any:
    """``int | None`` → ``int``; ``Annotated[...]`` unwrapped."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _base_annotation(args[0])
    return annotation


def expectation(info: FieldInfo) -> str:
    """What a field accepts, in words: ``a number of seconds > 0 and ≤ 86400``, ``one of 'a', 'b'``."""
    import annotated_types  # with pydantic, which has loaded it already

    if expected := _extra(info).get("expected"):
        return str(expected)
    annotation = _base_annotation(info.annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    kind = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(annotation, "a value")
    if unit := _extra(info).get("unit"):
        kind += f" of {unit}"
    bounds = []
    for item in info.metadata:
        for attribute, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            if (bound := getattr(item, attribute, None)) is not None:
                bounds.append(f"{symbol} {bound:g}" if isinstance(bound, float) else f"{symbol} {bound}")
        if isinstance(item, annotated_types.MaxLen):
            bounds.append(f"of at most {item.max_length} characters")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            bounds.append("not empty")
    return kind + (" " + " and ".join(bounds) if bounds else "")


def redacted(value: Any, secret: bool | str) -> str:
    """``repr(value)``, or, for a value that holds a credential, its text with the credential parts
    (URL user and password, query values; the path too where ``secret`` is ``"path"``) replaced."""
    text = str(value)
    if secret:
        from odf_resources.settings.credentials import url_credentials

        for part in sorted(url_credentials(text, path_is_secret=secret == "path"), key=len, reverse=True):
            text = text.replace(part, REDACTED)
    return repr(text) if len(text) <= QUOTE_LIMIT else f"{text[:QUOTE_LIMIT]!r}… ({len(text)} characters)"


def one_line(error: ValidationError, fields: dict[str, FieldInfo]) -> SettingsError:
    """The first problem of ``error`` as a SettingsError naming the variable, value and expectation
    (the others follow on the same line)."""
    problems = []
    for item in error.errors(include_url=False):
        if not item["loc"]:  # a rule across fields: its message names the variables
            problems.append(str(item["msg"]).removeprefix("Value error, "))
            continue
        field = str(item["loc"][0])
        info = fields[field]
        shown = redacted(item["input"], _extra(info).get("secret", False))
        problem = f"{variable_name(field)}={shown}: expected {expectation(info)}"
        if item["type"] != "string_pattern_mismatch":  # the expectation already says it, a regex would not help
            problem += f" ({item['msg'][:1].lower()}{item['msg'][1:]})"
        problems.append(problem)
    return SettingsError("; ".join(problems).replace("\n", " "))
