"""Processes and servers the tests start on 127.0.0.1: nothing here reaches the network."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class MotoServer:
    """moto's S3-compatible server in its own process (real HTTP, no patched boto3)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> MotoServer:
        executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
        self.process = subprocess.Popen(
            [executable, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_http(self.endpoint + "/moto-api/")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def env(self) -> dict[str, str]:
        # Dummy credentials for the local server: real ones come from the environment in production.
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "odf-test",
            "AWS_SECRET_ACCESS_KEY": "odf-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }


Responder = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class SourceServer:
    """A local HTTP server: files from ``root`` plus scripted responses for fault cases."""

    root: Path
    scripted: dict[str, list[Responder]] = field(default_factory=dict)
    requests_seen: list[str] = field(default_factory=list)
    # The client (host, port) of each request by path: names the exact connection a test waits on.
    clients: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                server.requests_seen.append(self.path)
                server.clients.setdefault(self.path.split("?")[0], []).append(self.client_address[:2])
                queue = server.scripted.get(self.path.split("?")[0])
                if queue:
                    responder = queue.pop(0) if len(queue) > 1 else queue[0]
                    return responder(self)
                path = (server.root / self.path.split("?")[0].lstrip("/")).resolve()
                if server.root.resolve() not in path.parents or not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "text/csv" if path.suffix == ".csv" else "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def script(self, path: str, *responders: Responder) -> None:
        """Answer ``path`` with each responder in turn; the last one repeats."""
        self.scripted[path] = list(responders)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass(frozen=True)
class RecordedPost:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class PostRecorder:
    """A loopback endpoint recording every POST to ``path`` (any path when None); ``status`` and
    ``delay`` script the answer and may be changed between requests."""

    def __init__(self, status: int = 200, delay: float = 0.0, path: str | None = None) -> None:
        self.status, self.delay, self.path = status, delay, path
        self.requests: list[RecordedPost] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if recorder.path is not None and self.path != recorder.path:
                    self.send_error(404)
                    return
                with recorder._lock:
                    recorder.requests.append(RecordedPost(self.path, dict(self.headers), body))
                time.sleep(recorder.delay)
                try:
                    self.send_response(recorder.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up waiting
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def recorded(self) -> list[RecordedPost]:
        with self._lock:
            return list(self.requests)

    def stop(self) -> None:
        """Close the listening socket: later connections are refused."""
        self.httpd.shutdown()
        self.httpd.server_close()


def respond(status: int, body: bytes = b"", content_type: str = "text/csv", length: int | None = None) -> Responder:
    """A scripted response; ``length`` larger than the body simulates a truncated transfer."""

    def responder(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        handler.end_headers()
        handler.wfile.write(body)
        if length is not None and length > len(body):
            handler.wfile.flush()
            handler.close_connection = True

    return responder


def redirect(location: str) -> Responder:
    def responder(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return responder


def stall(seconds: float, body: bytes = b"late") -> Responder:
    """Answer 200 with ``body`` after ``seconds``; the client may have given up (or died) by then."""

    def responder(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        with contextlib.suppress(OSError):
            respond(200, body)(handler)

    return responder


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ODF_", "AWS_", "DAGSTER_"))}
    env.update(overrides)
    return env
