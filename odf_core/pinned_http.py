"""One HTTP GET to an address vetted in advance, under one wall-clock deadline.

* Pinned: the TCP connection goes to the vetted IP, while the Host header and TLS SNI/certificate
  check use the URL's host name, so a DNS answer that changes after the check is never used.
* Deadline: socket timeouts bound each read, not a server that drips one byte per timeout, so a
  watchdog shuts the socket down when the deadline passes, whatever phase (connect, TLS, headers,
  body) is under way.
* Complete: a body shorter than its Content-Length or a cut chunked stream is an error.

Errors are ``TransferError``s whose text holds no URL (the caller adds a redacted one).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # urllib3, http.client and certifi are imported where used: the code location loads without them
    import urllib3
    from urllib3.connection import HTTPConnection

USER_AGENT = "odf-source-fetcher"


class TransferError(Exception):
    """Connect, headers or body failed; ``retryable`` for transient causes."""

    def __init__(self, problem: str, retryable: bool = True) -> None:
        super().__init__(problem)
        self.retryable = retryable


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # vetted IPs, tried in order
    authorization: str | None = None  # from the URL's user:password@, sent to this host only

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


class _Watchdog:
    """Shuts the connection's socket down at the deadline; a blocked read then returns at once."""

    def __init__(self, connection: HTTPConnection, seconds: float) -> None:
        self.connection, self.fired = connection, False
        # http.client drops connection.sock when a response will close: keep our own reference.
        self.sock: socket.socket | None = None
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        sock = self.sock or self.connection.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


class Response:
    """Status and headers of the response; ``chunks`` streams the body to its end."""

    def __init__(self, response: urllib3.BaseHTTPResponse, watchdog: _Watchdog, deadline_seconds: float) -> None:
        self.status, self.headers = response.status, response.headers
        self._response, self._watchdog, self._deadline_seconds = response, watchdog, deadline_seconds

    def chunks(self, size: int) -> Iterator[bytes]:
        import http.client

        import urllib3

        received = 0
        try:
            for chunk in self._response.stream(size, decode_content=False):
                received += len(chunk)
                yield chunk
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
            if self._watchdog.fired:
                raise _deadline_error(self._deadline_seconds, f"after {received} body bytes") from None
            raise TransferError(f"body truncated after {received} bytes ({type(error).__name__}: {error})") from None
        # A close-delimited body ends cleanly when the watchdog shuts the socket: not a success.
        if self._watchdog.fired:
            raise _deadline_error(self._deadline_seconds, f"after {received} body bytes")
        # http.client takes EOF for the end of the headers: a server that hangs up mid-headers
        # would otherwise look like a complete, empty, close-delimited download.
        delimited = "Content-Length" in self.headers or "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if received == 0 and not delimited:
            raise TransferError("the connection closed with no body and no Content-Length (headers cut short?)")


def _deadline_error(seconds: float, where: str) -> TransferError:
    return TransferError(f"no complete response within the {seconds:g}s deadline ({where})")


def _connection(target: Target, address: str, timeout: float, ca_bundle: str) -> HTTPConnection:
    from urllib3.connection import HTTPConnection, HTTPSConnection

    if target.scheme == "https":
        import certifi

        return HTTPSConnection(
            address,
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_bundle or certifi.where(),
        )
    return HTTPConnection(address, target.port, timeout=timeout)


@contextmanager
def get(target: Target, *, deadline: float, timeout: float, ca_bundle: str = "") -> Iterator[Response]:
    """GET ``target`` through one of its vetted addresses; ``deadline`` is a ``time.monotonic()`` instant."""
    import http.client

    import urllib3

    total = max(deadline - time.monotonic(), 0.0)
    last_error: Exception | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = _connection(target, address, min(timeout, remaining), ca_bundle)
        try:
            with _Watchdog(connection, remaining) as watchdog:
                try:
                    connection.connect()
                except (urllib3.exceptions.HTTPError, OSError) as error:
                    if watchdog.fired:
                        break
                    last_error = error
                    continue  # the next vetted address
                watchdog.sock = connection.sock
                try:
                    connection.request(
                        "GET", target.path, headers=_headers(target), preload_content=False, decode_content=False
                    )
                    response = connection.getresponse()
                except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
                    if watchdog.fired:
                        raise _deadline_error(total, "waiting for the headers") from None
                    raise TransferError(f"{type(error).__name__}: {error}") from None
                yield Response(response, watchdog, total)
                return
        finally:
            connection.close()
    if last_error is None:
        raise _deadline_error(total, "while connecting")
    raise TransferError(f"{type(last_error).__name__}: {last_error}")


def _headers(target: Target) -> dict[str, str]:
    # identity: the hash and size are of the bytes as served, and nothing is decompressed unbounded.
    headers = {
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
        "Accept": "*/*",
        "Accept-Encoding": "identity",
        "Connection": "close",
    }
    if target.authorization:
        headers["Authorization"] = target.authorization
    return headers
