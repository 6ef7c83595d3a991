"""A tiny stand-in for the Kubernetes API on 127.0.0.1 that records the Jobs it is asked to create."""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CREATE_JOB_PATH = re.compile(r"^/apis/batch/v1/namespaces/(?P<namespace>[^/]+)/jobs/?$")


@dataclass
class RecordedJob:
    namespace: str
    body: dict
    authorization: str | None


@dataclass
class RecordingKubernetesApi:
    """Answers ``POST /apis/batch/v1/namespaces/<ns>/jobs`` like the API server (201 + the Job); 404 otherwise."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    jobs: list[RecordedJob] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                match = CREATE_JOB_PATH.match(self.path.split("?")[0])
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not match:
                    api.unexpected.append(f"POST {self.path}")
                    return self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
                body = json.loads(raw)
                api.jobs.append(RecordedJob(match["namespace"], body, self.headers.get("Authorization")))
                created = json.loads(raw)
                created.setdefault("metadata", {}).update(namespace=match["namespace"], uid=str(uuid.uuid4()))
                self._reply(201, created)

            def do_GET(self) -> None:
                api.unexpected.append(f"GET {self.path}")
                self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def write_kubeconfig(self, path: Path, namespace: str) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "recorder", "cluster": {"server": self.url}}],
            "users": [{"name": "recorder", "user": {"token": self.token}}],
            "contexts": [{"name": "recorder", "context": {"cluster": "recorder", "user": "recorder", "namespace": namespace}}],
            "current-context": "recorder",
        }
        path.write_text(json.dumps(config))  # JSON is valid kubeconfig YAML
        return path

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
