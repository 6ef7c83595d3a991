"""A lineage backend on 127.0.0.1: records what is POSTed to /api/v1/lineage, can be slow or fail."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LineageCollector:
    """``status``/``delay`` script the answer; ``events``/``headers`` hold every request received."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status, self.delay = status, delay
        self.events: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.raw_bodies: list[bytes] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/api/v1/lineage":
                    self.send_error(404)
                    return
                with collector._lock:
                    collector.raw_bodies.append(body)
                    collector.headers.append(dict(self.headers))
                    collector.events.append(json.loads(body))
                time.sleep(collector.delay)
                try:
                    self.send_response(collector.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up waiting
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket: later connections are refused."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def of(self, event_type: str | None = None, job: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self.events if event_type in (None, e["eventType"]) and job in (None, e["job"]["name"])]
