"""A loopback webhook receiver for the run-failure sensor tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "s3cr3t-t0ken"


class Receiver:
    """A loopback webhook endpoint recording every POST; ``delay``/``status`` script its answer."""

    def __init__(self, status: int = 204, delay: float = 0.0):
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append({"path": self.path, "json": json.loads(body)})
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # The token sits in the path and the query, as with Slack/Teams-style webhooks.
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/{SECRET}?key={SECRET}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
