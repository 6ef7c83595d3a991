"""Which parts of ODF's settings are credentials, so logs and error messages never show them."""

from __future__ import annotations

import functools
import os
from urllib.parse import parse_qsl, urlsplit

# Settings whose values (or parts of URL values) are credentials: scrubbed from every log record.
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OPENLINEAGE_API_KEY")
SECRET_URL_VARIABLES = ("ODF_STORAGE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "OPENLINEAGE_URL")
# A webhook URL's path and query are its token (Slack, Teams, generic hooks).
SECRET_PATH_URL_VARIABLES = ("ODF_ALERT_WEBHOOK_URL",)
# Shorter values are too likely to occur in ordinary text to be scrubbed everywhere.
MIN_SECRET_CHARS = 6


def credential_values() -> list[str]:
    """Every credential the environment gives ODF: secret keys, tokens, URL passwords, query values
    and webhook paths; longest first, so a value containing another is scrubbed whole. Read without
    validating the settings: the log redaction that calls this must work while they are wrong."""
    names = SECRET_VARIABLES + SECRET_URL_VARIABLES + SECRET_PATH_URL_VARIABLES
    return list(_credentials(tuple(os.environ.get(name, "").strip() for name in names)))


def url_credentials(raw: str, path_is_secret: bool) -> set[str]:
    """The credential parts of URL ``raw``: userinfo, user, password, query values and, for a
    webhook (``path_is_secret``), its path and its long segments."""
    found: set[str] = set()
    if "://" not in raw:
        return found
    authority = raw.partition("://")[2].partition("/")[0]
    userinfo = authority.rpartition("@")[0]
    found.update(userinfo.split(":", 1))
    found.add(userinfo)
    try:
        parts = urlsplit(raw)
    except ValueError:
        return found
    found.update(value for _, value in parse_qsl(parts.query))
    if path_is_secret and parts.path.strip("/"):
        found.add(parts.path)
        found.update(segment for segment in parts.path.split("/") if len(segment) >= 16)
    return {value for value in found if value}


@functools.lru_cache(maxsize=8)
def _credentials(raw_values: tuple[str, ...]) -> tuple[str, ...]:
    names = SECRET_VARIABLES + SECRET_URL_VARIABLES + SECRET_PATH_URL_VARIABLES
    values = dict(zip(names, raw_values, strict=True))
    found = {values[name] for name in SECRET_VARIABLES}
    for name in SECRET_URL_VARIABLES + SECRET_PATH_URL_VARIABLES:
        found |= url_credentials(values[name], path_is_secret=name in SECRET_PATH_URL_VARIABLES)
    return tuple(sorted((v for v in found if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True))
