"""Network faults on loopback: a TCP proxy in front of a server that can cut uploads mid-body."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to ``target_port``. With ``cut_uploads`` set, a PUT/POST request is
    forwarded only up to that many body bytes, then both connections are reset: the server sees a
    transfer dying mid-stream, exactly like a network failure during an upload."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut_uploads: int | None = None
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump_requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        buffer, body_sent, in_upload = b"", 0, False
        try:
            while data := client.recv(65536):
                limit = self.cut_uploads
                if limit is None:
                    upstream.sendall(data)
                    continue
                buffer += data
                if not in_upload and b"\r\n\r\n" in buffer:
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    in_upload = head.split(b" ", 1)[0] in (b"PUT", b"POST")
                    if not in_upload:
                        upstream.sendall(buffer)
                        buffer = b""
                        continue
                    upstream.sendall(head + b"\r\n\r\n" + rest[:limit])
                    body_sent = min(len(rest), limit)
                    if len(rest) > limit:
                        return self._reset(client, upstream)
                    buffer = b""
                elif in_upload:
                    allowed = limit - body_sent
                    upstream.sendall(buffer[:allowed])
                    if len(buffer) > allowed:
                        return self._reset(client, upstream)
                    body_sent, buffer = body_sent + len(buffer), b""
        except OSError:
            pass

    def _reset(self, *sockets: socket.socket) -> None:
        self.cuts += 1
        for sock in sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()

    def close(self) -> None:
        self.listener.close()


class FlakyS3Proxy:
    """An S3 endpoint in front of moto answering a quarter of requests with 503 SlowDown or 500
    InternalError, in bursts of ``burst`` (one request in every ``4 * burst`` starts a burst), so a
    request meeting one fails ``burst`` times in a row; the rest is forwarded unchanged."""

    def __init__(self, target: str, burst: int = 5) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import requests

        proxy = self
        self.target, self.failures, self.forwarded = target, 0, 0
        lock, session, counter = threading.Lock(), requests.Session(), iter(range(1 << 62))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet test output
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    fail = next(counter) % (4 * burst) < burst
                    proxy.failures += fail
                    proxy.forwarded += not fail
                if fail:
                    code, status = ("SlowDown", 503) if proxy.failures % 2 else ("InternalError", 500)
                    payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length", "connection")}
                answer = session.request(
                    self.command, proxy.target + self.path, headers=headers, data=body, allow_redirects=False
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
