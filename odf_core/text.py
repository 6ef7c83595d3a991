"""Safe text for error messages and logs: capped quotes and URLs without secrets.

Every value that comes from outside (a file, a URL, a registry) passes through here before it
is written into an error, a log line, metadata or a lineage event.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# Long enough to recognise a value, short enough that a hostile 5 MB cell stays out of the event log.
QUOTE_LIMIT = 200


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how much was left out."""
    text = repr(value) if not isinstance(value, str) else repr(value[: limit + 1])
    if len(text) <= limit + 2:
        return text
    total = len(value) if isinstance(value, str) else len(repr(value))
    return f"{text[:limit]}… ({total} characters)"


def redact_url(url: str) -> str:
    """Drop credentials and query values (API tokens live there) before a URL reaches logs/metadata."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    netloc = f"[{host}]" if ":" in host else host
    netloc = f"{netloc}:{port}" if port else netloc
    query = "&".join(item.split("=", 1)[0] + "=…" for item in parts.query.split("&") if item)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
