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
