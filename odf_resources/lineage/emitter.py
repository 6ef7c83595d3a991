"""Sends OpenLineage events from a background thread so a slow or broken backend never slows an asset.

dagster-openlineage's own emitter is synchronous and, built through ``OpenLineageClient()`` from
``OPENLINEAGE_URL``, inherits the client's 5 s timeout with 5 retries on 5xx: a struggling backend
would add seconds to every materialization. Here ``emit`` only enqueues (never blocks, never
raises); one daemon thread delivers with a short timeout and no retries, and the queue is bounded
so a dead backend costs dropped events, not memory. At process exit whatever is still queued gets
``flush_timeout`` seconds, so the extra time a run pod spends is bounded too.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable

from openlineage.client import OpenLineageClient
from openlineage.client.transport.http import HttpConfig, HttpTransport

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_FLUSH_TIMEOUT_SECONDS = 5.0
_NO_RETRY = {"total": 0, "connect": 0, "read": 0, "backoff_factor": 0, "status_forcelist": [], "allowed_methods": ["POST"]}
_LOG_EVERY_SECONDS = 60.0
_URL_USERINFO = re.compile(r"//[^/@\s]+@")


def transport_configured() -> bool:
    """Whether the environment names a lineage transport (else ODF emits nothing, not console spam)."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG")
                or os.environ.get("OPENLINEAGE__TRANSPORT__TYPE"))  # fmt: skip


def build_client(timeout: float) -> OpenLineageClient:
    """The client for this environment, using openlineage-python's own configuration.

    ``OPENLINEAGE_CONFIG`` (a YAML file) or ``OPENLINEAGE__TRANSPORT__*`` variables: the client's
    transport exactly as configured (http, kafka, file, console, ...). Only ``OPENLINEAGE_URL`` (+
    ``OPENLINEAGE_API_KEY``, ``OPENLINEAGE_ENDPOINT``): HTTP with ``timeout`` and no retries.
    """
    url = os.environ.get("OPENLINEAGE_URL")
    if not url or os.environ.get("OPENLINEAGE_CONFIG") or os.environ.get("OPENLINEAGE__TRANSPORT__TYPE"):
        return OpenLineageClient()
    config: dict[str, object] = {
        "url": url,
        "endpoint": os.environ.get("OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
        "timeout": timeout,
        "retry": dict(_NO_RETRY),
    }
    if api_key := os.environ.get("OPENLINEAGE_API_KEY"):
        config["auth"] = {"type": "api_key", "apiKey": api_key}
    return OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(config)))


def redact(text: str) -> str:
    """``text`` without the API key or URL credentials, for log lines."""
    secret = os.environ.get("OPENLINEAGE_API_KEY")
    if secret:
        text = text.replace(secret, "***")
    return _URL_USERINFO.sub("//***@", text)


class BackgroundEmitter:
    """A bounded queue drained by one daemon thread; ``emit`` is fire-and-forget."""

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT_SECONDS,
        client_factory: Callable[[float], OpenLineageClient] = build_client,
    ) -> None:
        self.timeout = timeout
        self.queue_size = queue_size
        self.flush_timeout = flush_timeout
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._last_logged: dict[str, float] = {}
        self.dropped = 0

    def emit(self, event: object) -> None:
        if not transport_configured():
            return
        self._ensure_worker()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            self._log_rate_limited("queue-full", "OpenLineage queue full (%d events): dropping events", self.queue_size)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for queued events to be delivered (or to fail)."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self) -> None:
        """Give pending events ``flush_timeout`` seconds; called at interpreter/worker exit and dispose."""
        if self._pid != os.getpid():
            return
        if not self.flush(self.flush_timeout):
            log.warning("OpenLineage: %d event(s) not delivered within %.1fs; dropping them",
                        self._queue.unfinished_tasks, self.flush_timeout)  # fmt: skip

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            # First use in this process (or a forked child, whose copy has no thread): start fresh.
            self._pid = os.getpid()
            self._queue = queue.Queue(maxsize=self.queue_size)
            threading.Thread(target=self._deliver_forever, name="odf-openlineage", daemon=True).start()
            # Runs before non-daemon threads are joined, both at interpreter exit and when a
            # multiprocessing child finishes (which skips atexit); concurrent.futures relies on it too.
            register = getattr(threading, "_register_atexit", atexit.register)
            try:
                register(self.close)
            except RuntimeError:  # already shutting down: nothing left to wait for
                pass

    def _deliver_forever(self) -> None:
        events = self._queue
        client = None
        while True:
            event = events.get()
            try:
                client = client or self._client_factory(self.timeout)
                client.emit(event)
            except Exception as error:  # noqa: BLE001 - delivery problems are logged, never raised
                self._log_rate_limited(
                    type(error).__name__,
                    "OpenLineage emit failed (%s: %s); materializations are unaffected",
                    type(error).__name__,
                    redact(str(error))[:300],
                )
            finally:
                events.task_done()

    def _log_rate_limited(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is None or now - last >= _LOG_EVERY_SECONDS:
            self._last_logged[kind] = now
            log.warning(message, *args)
