"""Credentials from ODF's settings never reach a log line, at any level.

URLs ODF builds are redacted where they are built (``text.redact_url``); this is the net under
everything else: libraries log request headers (botocore, the session token at DEBUG) and URLs
(urllib3, a webhook's token in its path). A log record factory replaces every credential value
the environment holds with ``…`` before any handler — console, compute log, Dagster's event log
capture — sees the record. Records are only made for enabled levels, so it costs nothing unless
something is logged.
"""

from __future__ import annotations

import logging
import threading

from odf_resources import settings

REDACTED = "…"
_installed = threading.Lock()
_previous_factory = None


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def install_log_redaction() -> None:
    """Installs the redacting log record factory once per process; the credentials are read from the
    environment as it is when each record is made (cached per value)."""
    global _previous_factory
    with _installed:
        if _previous_factory is not None:
            return
        previous = _previous_factory = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            secrets = settings.credential_values()
            if not secrets:
                return record
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a broken format is the logging module's to report
                return record
            cleaned = scrub(message, secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
            return record

        logging.setLogRecordFactory(factory)
