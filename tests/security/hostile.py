"""Hostile peers for the security tests, all on 127.0.0.1: a fake resolver, raw TCP servers that
drip, stall or hang up, and a TLS server that records the SNI name and Host header it got."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

# Upper bound of any hostile loop: a test that forgot to stop its server still ends.
MAX_DRIP_STEPS = 600


class FakeResolver:
    """``host -> [answer, answer, ...]``: each lookup takes the next answer, the last one repeats."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = {host: list(seq) for host, seq in answers.items()}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        sequence = self.answers[host]
        return sequence.pop(0) if len(sequence) > 1 else sequence[0]


def read_request(conn: socket.socket) -> bytes:
    """The request head (bounded), so the client is past sending when the hostile part starts."""
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def with_resolver(resolver: FakeResolver, **options):
    """A SourceFetcher whose DNS lookups go to ``resolver`` (nothing else changes)."""
    from odf_resources.source_fetcher import SourceFetcher

    class FakeDnsFetcher(SourceFetcher):
        def resolve(self, host: str, port: int) -> list[str]:
            return resolver(host, port)

    return FakeDnsFetcher(**options)


Behaviour = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """Runs ``behaviour(connection, stop)`` for each connection on 127.0.0.1; ``stop`` ends them."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour, self.stop_event = behaviour, threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                read_request(conn)
                self.behaviour(conn, self.stop_event)
            except OSError:
                pass  # the client gave up: exactly what these servers are for

    def stop(self) -> None:
        self.stop_event.set()
        self.listener.close()


def drip(conn: socket.socket, stop: threading.Event, head: bytes, byte: bytes = b"x", every: float = 0.2) -> None:
    conn.sendall(head)
    for _ in range(MAX_DRIP_STEPS):
        if stop.wait(every):
            return
        conn.sendall(byte)


def slow_headers(conn, stop) -> None:
    """A status line, then one header byte every 0.2 s: each read succeeds, the headers never end."""
    drip(conn, stop, b"HTTP/1.1 200 OK\r\nX-Slow: ")


def silent_after_status(conn, stop) -> None:
    """A status line, then nothing until stopped."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    stop.wait(MAX_DRIP_STEPS * 0.2)


def hang_up_mid_headers(conn, stop) -> None:
    """A status line and half a header, then the connection closes."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/c")


def drip_body(conn, stop) -> None:
    """Declares 100 kB, then sends one byte every 0.2 s."""
    drip(conn, stop, b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\na,b\n")


def drip_close_delimited(conn, stop) -> None:
    """No length at all (the body ends when the connection does), one byte every 0.2 s."""
    drip(conn, stop, b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close\r\n\r\na,b\n")


def short_body(conn, stop) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\na,b\n1,2\n")


def cut_chunked(conn, stop) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n8\r\na,b\n1,2\n\r\n")


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) PEM files of a self-signed certificate for ``name``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsServer(RawServer):
    """HTTPS on 127.0.0.1 with a certificate for one name; records SNI names and request heads."""

    def __init__(self, cert: Path, key: Path, body: bytes) -> None:
        self.sni: list[str | None] = []
        self.heads: list[bytes] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self.context = context

        def respond(conn, stop):
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )

        super().__init__(respond)
        self.url = f"https://127.0.0.1:{self.port}"

    def _handle(self, conn: socket.socket) -> None:
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                self.heads.append(read_request(tls))
                self.behaviour(tls, self.stop_event)
        except (OSError, ssl.SSLError):
            pass


def elapsed(action: Callable[[], object]) -> tuple[float, BaseException | None]:
    """Seconds ``action`` took and what it raised (None if it returned)."""
    started = time.monotonic()
    try:
        action()
    except BaseException as error:  # noqa: BLE001 - the caller asserts on it
        return time.monotonic() - started, error
    return time.monotonic() - started, None
