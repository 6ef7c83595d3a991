"""The OpenLineage client ODF delivers with, configured by openlineage-python's own variables.

Delivery retries are the lineage sensor's job (it keeps its place in a durable cursor and backs
off), so the HTTP transport here makes one attempt per call with a short timeout: a tick never
hangs on a slow backend, and a failed event is simply tried again on a later tick.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from odf_core.text import redact_url
from odf_resources import settings

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient

_NO_RETRY = {
    "total": 0,
    "connect": 0,
    "read": 0,
    "backoff_factor": 0,
    "status_forcelist": [],
    "allowed_methods": ["POST"],
}
_URL_USERINFO = re.compile(r"//[^/@\s]+@")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def transport_configured() -> bool:
    """Whether the environment names a lineage transport (else ODF sends nothing, not console spam)."""
    env = settings.openlineage_environment()
    return not env.disabled and bool(env.url or env.client_configured)


def build_client(timeout: float) -> OpenLineageClient:  # noqa: F821
    """The client for this environment.

    ``OPENLINEAGE_CONFIG`` (a YAML file) or ``OPENLINEAGE__TRANSPORT__*`` variables: the client's
    transport exactly as configured (http, kafka, file, console, ...). Only ``OPENLINEAGE_URL`` (+
    ``OPENLINEAGE_API_KEY``, ``OPENLINEAGE_ENDPOINT``): HTTP with ``timeout`` and one attempt.
    """
    # Imported here: openlineage-python takes ~0.7 s to import, and the code location loads this module.
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    env = settings.openlineage_environment()
    if not env.url or env.client_configured:
        return OpenLineageClient()
    config: dict[str, object] = {
        "url": env.url,
        "endpoint": env.endpoint,
        "timeout": timeout,
        "retry": dict(_NO_RETRY),
    }
    if env.api_key:
        config["auth"] = {"type": "api_key", "apiKey": env.api_key}
    return OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(config)))


def redact(text: str) -> str:
    """``text`` without the API key, URL credentials or URL query values (tokens), for log lines."""
    secret = settings.openlineage_environment().api_key
    if secret:
        text = text.replace(secret, "***")
    text = _URL.sub(lambda url: redact_url(url.group(0)), text)
    return _URL_USERINFO.sub("//***@", text)
