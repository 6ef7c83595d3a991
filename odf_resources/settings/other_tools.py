"""Variables other tools define (AWS, OpenLineage, Dagster), read here as those tools read them."""

from __future__ import annotations

import os
from dataclasses import dataclass


def s3_endpoint_url() -> str | None:
    """``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``: the S3 endpoint ODF's clients use, without any
    ``user:password@`` (S3 signs requests with the AWS keys; userinfo would only reach error messages)."""
    raw = (os.environ.get("AWS_ENDPOINT_URL_S3", "") or os.environ.get("AWS_ENDPOINT_URL", "")).strip()
    if not raw:
        return None
    scheme, sep, rest = raw.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


def lineage_namespace(default: str) -> str:
    """``OPENLINEAGE_NAMESPACE``: the OpenLineage job namespace (default ``odf``)."""
    return os.environ.get("OPENLINEAGE_NAMESPACE", "").strip() or default


def dagster_home() -> str:
    """``DAGSTER_HOME``: the instance the ``odf`` CLI uses; unset, it shares ``<project>/.odf/dagster_home``."""
    return os.environ.get("DAGSTER_HOME", "").strip()


@dataclass(frozen=True)
class OpenLineageEnvironment:
    """openlineage-python's own variables, as ODF reads them to decide whether and how to send."""

    disabled: bool  # OPENLINEAGE_DISABLED=true
    url: str  # OPENLINEAGE_URL
    config_file: str  # OPENLINEAGE_CONFIG: the client's YAML configuration
    transport_type: str  # OPENLINEAGE__TRANSPORT__TYPE: the client's variable-based configuration
    endpoint: str  # OPENLINEAGE_ENDPOINT (default api/v1/lineage)
    api_key: str  # OPENLINEAGE_API_KEY (a secret)

    @property
    def client_configured(self) -> bool:
        """The client configures itself (a config file or OPENLINEAGE__TRANSPORT__* variables)."""
        return bool(self.config_file or self.transport_type)


def openlineage_environment() -> OpenLineageEnvironment:
    get = os.environ.get
    return OpenLineageEnvironment(
        disabled=get("OPENLINEAGE_DISABLED", "").strip().lower() == "true",
        url=get("OPENLINEAGE_URL", ""),
        config_file=get("OPENLINEAGE_CONFIG", ""),
        transport_type=get("OPENLINEAGE__TRANSPORT__TYPE", ""),
        endpoint=get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
        api_key=get("OPENLINEAGE_API_KEY", ""),
    )
