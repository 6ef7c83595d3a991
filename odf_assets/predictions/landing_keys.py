"""Where a landed iris file belongs: its date folder, or why it cannot be read (its name, a link,
a sub-folder, an unsupported type). Names come from clients, so every problem quotes them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from odf_core.text import quote

LANDING_PREFIX = "landing/iris"
SUPPORTED_SUFFIXES = (".jsonl", ".csv")

_DATE_FOLDER = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Mirrors odf_resources.storage.safe_key: other names cannot be read through ODF storage.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=\-]*")


@dataclass(frozen=True)
class LandingEntry:
    """One object under the landing prefix, classified: ``problem`` says why it cannot be read."""

    key: str
    version: str
    date: str | None
    problem: str | None = None
    size: int | None = None

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def date_prefix(partition: str) -> str:
    return f"{LANDING_PREFIX}/date={partition}"


def classify_landing_key(key: str, version: str, size: int | None = None, symlink: bool = False) -> LandingEntry:
    """Where a landed object belongs: ``date`` is None when it is in no valid date folder.
    Names are quoted (escaped, capped) in every problem: they come from clients."""

    def entry(day: str | None, problem: str | None = None) -> LandingEntry:
        return LandingEntry(key, version, day, problem, size)

    # A control character anywhere (a newline forging log lines, a date folder "date=…\n") makes
    # the whole key untrustworthy: refused, and never attributed to a date.
    if _CONTROL.search(key):
        return entry(None, f"{quote(key)} has control characters in its name; refused")
    relative = key[len(LANDING_PREFIX) + 1 :] if key.startswith(LANDING_PREFIX + "/") else key
    folder, _, rest = relative.partition("/")
    match = _DATE_FOLDER.fullmatch(folder)
    if symlink and not (rest and match):  # a linked date folder (or a link above one)
        return entry(None, f"{quote(key)} is a symbolic link; links are never followed")
    if not rest or not match:
        return entry(None, f"{quote(key)} is not inside a {LANDING_PREFIX}/date=YYYY-MM-DD/ folder")
    try:
        date.fromisoformat(match.group(1))
    except ValueError:
        return entry(None, f"{quote(folder)} in {quote(key)} is not a valid calendar date")
    day = match.group(1)
    if symlink:
        return entry(day, f"{quote(rest)} is a symbolic link; links are never followed")
    if "/" in rest:
        return entry(day, f"{quote(key)} is in a sub-folder; files must sit directly in {folder}/")
    if not _SAFE_NAME.fullmatch(rest):
        return entry(
            day,
            f"file name {quote(rest)} is not allowed: "
            "use letters, digits, '_', '-', '.', '=' and do not start with '.' or '-'",
        )
    if not rest.endswith(SUPPORTED_SUFFIXES):
        return entry(day, f"{quote(rest)} is not a .jsonl or .csv file")
    return entry(day)
