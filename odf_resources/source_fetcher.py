"""Downloads source files safely: allowlisted schemes/hosts, bounded size and time, retried 5xx."""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import dagster as dg
import requests

CHUNK_BYTES = 1 << 20
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# An HTML page answered with 200 is the classic "portal error page instead of data".
REJECTED_CONTENT_TYPES = ("text/html", "application/xhtml+xml")


class FetchError(Exception):
    """A source could not be fetched; the message names the URL and what was expected."""


class RetryableFetchError(FetchError):
    """A transient failure (5xx, timeout, dropped connection) worth another attempt."""


class SourceUnavailableError(FetchError):
    """Transient failures persisted through every attempt: a later run (RetryPolicy) may succeed."""


@dataclass(frozen=True)
class FetchedFile:
    url: str
    path: Path
    sha256: str
    size: int
    content_type: str | None


def _is_within(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


class SourceFetcher(dg.ConfigurableResource):
    """Fetches http(s) and file sources into local files with hash, size and bounded retries."""

    timeout_seconds: float = 30.0
    max_attempts: int = 4
    backoff_seconds: float = 0.5
    max_bytes: int = 2 << 30
    max_redirects: int = 5
    allowed_schemes: list[str] = ["https", "http", "file"]
    allowed_hosts: list[str] = []
    file_roots: list[str] = []
    allow_link_local: bool = False

    def fetch(self, url: str, workdir: Path) -> FetchedFile:
        """Fetch ``url`` into ``workdir`` (``file:`` URLs are read in place) and hash it."""
        scheme = self._check_scheme(url)
        if scheme == "file":
            return self._fetch_file(url)
        last_error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._fetch_http(url, workdir)
            except RetryableFetchError as error:
                last_error = error
                if attempt < self.max_attempts:
                    time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise SourceUnavailableError(f"{url}: gave up after {self.max_attempts} attempts: {last_error}") from last_error

    # -- checks ------------------------------------------------------------------------------
    def _check_scheme(self, url: str) -> str:
        scheme = urlparse(url).scheme.lower()
        if scheme not in {s.lower() for s in self.allowed_schemes}:
            raise FetchError(f"{url}: scheme {scheme!r} is not allowed (allowed: {sorted(self.allowed_schemes)})")
        return scheme

    def _check_host(self, url: str) -> None:
        host = (urlparse(url).hostname or "").lower()
        if not host:
            raise FetchError(f"{url}: no host in URL")
        if self.allowed_hosts and host not in {h.lower() for h in self.allowed_hosts}:
            raise FetchError(f"{url}: host {host!r} is not in the allowlist {sorted(self.allowed_hosts)}")
        if self.allow_link_local:
            return
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
        except socket.gaierror as error:
            raise RetryableFetchError(f"{url}: cannot resolve {host!r}: {error}") from error
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
                # Cloud metadata services (169.254.169.254, fd00:ec2::254 via link-local) live here.
                raise FetchError(f"{url}: {host!r} resolves to {ip}, a link-local/metadata address; refused")

    # -- file --------------------------------------------------------------------------------
    def _fetch_file(self, url: str) -> FetchedFile:
        parsed = urlparse(url)
        if parsed.netloc not in ("", "localhost"):
            raise FetchError(f"{url}: file URLs must not name a host")
        path = Path(unquote(parsed.path)).resolve()
        roots = [Path(root).resolve() for root in self.file_roots]
        if not _is_within(path, roots):
            raise FetchError(f"{url}: {path} is outside the allowed file roots {[str(r) for r in roots]}")
        if not path.is_file():
            raise FetchError(f"{url}: file {path} does not exist")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise FetchError(f"{url}: {size} bytes exceeds the maximum download size of {self.max_bytes} bytes")
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(chunk)
        return FetchedFile(url, path, digest.hexdigest(), size, None)

    # -- http --------------------------------------------------------------------------------
    def _fetch_http(self, url: str, workdir: Path) -> FetchedFile:
        current = url
        # Redirects are followed by hand so every hop passes the same scheme/host checks.
        for _ in range(self.max_redirects + 1):
            self._check_host(current)
            try:
                response = requests.get(current, stream=True, timeout=self.timeout_seconds, allow_redirects=False)
            except (requests.Timeout, requests.ConnectionError) as error:
                raise RetryableFetchError(f"{current}: {type(error).__name__}: {error}") from error
            with response:
                if response.is_redirect:
                    current = urljoin(current, response.headers["Location"])
                    if self._check_scheme(current) == "file":
                        raise FetchError(f"{url}: redirect to a file URL {current!r} is refused")
                    continue
                return self._save_response(url, response, workdir)
        raise FetchError(f"{url}: more than {self.max_redirects} redirects")

    def _save_response(self, url: str, response: requests.Response, workdir: Path) -> FetchedFile:
        if response.status_code in RETRYABLE_STATUS:
            raise RetryableFetchError(f"{url}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise FetchError(f"{url}: HTTP {response.status_code}, expected 200")
        content_type = response.headers.get("Content-Type")
        if content_type and content_type.split(";")[0].strip().lower() in REJECTED_CONTENT_TYPES:
            raise FetchError(f"{url}: content type {content_type!r} is a web page, not a data file")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"{url}: Content-Length {declared} exceeds the maximum of {self.max_bytes} bytes")
        digest, size = hashlib.sha256(), 0
        deadline = time.monotonic() + self.timeout_seconds * 10
        with tempfile.NamedTemporaryFile(dir=workdir, prefix="fetch-", delete=False) as handle:
            try:
                for chunk in response.iter_content(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(f"{url}: body exceeds the maximum download size of {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise RetryableFetchError(f"{url}: download took longer than {self.timeout_seconds * 10:.0f}s")
                    digest.update(chunk)
                    handle.write(chunk)
            except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError, requests.Timeout) as error:
                Path(handle.name).unlink(missing_ok=True)
                raise RetryableFetchError(f"{url}: body truncated after {size} bytes ({error})") from error
            except FetchError:
                Path(handle.name).unlink(missing_ok=True)
                raise
        return FetchedFile(url, Path(handle.name), digest.hexdigest(), size, content_type)
