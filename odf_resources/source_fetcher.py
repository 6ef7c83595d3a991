"""Downloads source files safely: allowlisted schemes/hosts, vetted and pinned addresses, bounded
size and wall-clock time, retried transient failures, and errors that never carry credentials."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import dagster as dg

from odf_core.egress import EgressRefused, system_resolve, vet_host
from odf_core.text import quote, redact_url

if TYPE_CHECKING:
    from odf_core import pinned_http

CHUNK_BYTES = 1 << 20
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# An HTML page answered with 200 is the classic "portal error page instead of data".
REJECTED_CONTENT_TYPES = ("text/html", "application/xhtml+xml")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _restore(cls: type, message: str) -> Exception:
    error = Exception.__new__(cls)
    Exception.__init__(error, message)
    return error


@dataclass(frozen=True)
class SourceLimits:
    """Bounds on a source file as it is read, after any decompression (see README, security)."""

    max_bytes: int = 2 << 30
    max_ratio: float = 100.0
    max_columns: int = 10_000
    max_line_bytes: int = 16 << 20
    max_field_bytes: int = 16 << 20
    # Seconds allowed for decompressing one file (the fetcher's own deadline, applied again).
    deadline_seconds: float = 300.0


class FetchError(Exception):
    """A source could not be fetched. The one place a URL enters error text: it is redacted here
    (no ``user:password@``, no query values) and any secret of it is scrubbed from ``problem``."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{redact_url(url)}: {_scrub(problem, url)}")

    def __reduce__(self):
        return _restore, (type(self), str(self))


class RetryableFetchError(FetchError):
    """A transient failure (5xx, timeout, dropped connection) worth another attempt."""


class SourceUnavailableError(FetchError):
    """Transient failures persisted through every attempt: a later run (RetryPolicy) may succeed."""


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL's credentials or query values, however a library quoted them."""
    try:
        parts = urlsplit(url)
        secrets = [parts.username, parts.password, parts.query, parts.fragment]
    except ValueError:
        return text.replace(url, "<unparseable URL>")
    secrets += [value for item in parts.query.split("&") for value in item.split("=", 1)[1:]]
    text = text.replace(url, redact_url(url))
    for secret in sorted({s for raw in secrets if raw for s in (raw, unquote(raw))}, key=len, reverse=True):
        if len(secret) >= 3:  # shorter values ("1", "id") are not secrets and would shred the text
            text = text.replace(secret, "…")
    return text


def _basic_auth(parts: SplitResult) -> str | None:
    """``user:password@`` in a URL means HTTP Basic auth, as requests and browsers treat it."""
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


@dataclass(frozen=True)
class FetchedFile:
    url: str
    path: Path
    sha256: str
    size: int
    content_type: str | None


def _is_within(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _too_broad(folder: Path) -> bool:
    """A folder that holds other people's files: never an implicit ``file:`` root."""
    shared = {Path("/"), Path.home(), Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")}
    resolved = {p.resolve() for p in shared if p.exists()}
    if folder in resolved or folder == Path(folder.anchor):
        return True
    try:
        return bool(folder.stat().st_mode & stat.S_IWOTH)  # world-writable: anyone can plant a file
    except OSError:
        return True


def registry_file_roots(registry_files: Iterable[Path], explicit_roots: Iterable[Path]) -> list[str]:
    """``file:`` roots: each registry's own folder tree, unless that folder is shared (``/``, ``$HOME``,
    the temp dir, a world-writable folder), plus the operator's explicit ``ODF_FILE_ROOTS``."""
    folders = {Path(path).expanduser().resolve().parent for path in registry_files}
    return sorted({str(f) for f in folders if not _too_broad(f)} | {str(Path(r).resolve()) for r in explicit_roots})


class SourceFetcher(dg.ConfigurableResource):
    """Fetches http(s) and file sources into local files with hash, size and bounded retries."""

    timeout_seconds: float = 30.0  # per connect and per read
    # Wall clock for a whole fetch: every attempt, redirect, connect, header and body byte.
    deadline_seconds: float = 300.0
    max_attempts: int = 4
    backoff_seconds: float = 0.5
    max_bytes: int = 2 << 30  # fetched bytes, and again after decompression
    # Bounds on what is read from a fetched file (SourceLimits): compressed content may expand at
    # most this many times; columns, line and field lengths are capped (README, security).
    max_decompression_ratio: float = 100.0
    max_columns: int = 10_000
    max_line_bytes: int = 16 << 20
    max_field_bytes: int = 16 << 20
    max_redirects: int = 5
    allowed_schemes: list[str] = ["https", "http", "file"]
    # Empty: any host with public addresses. Non-public addresses need the host named here.
    allowed_hosts: list[str] = []
    file_roots: list[str] = []
    allow_link_local: bool = False
    ca_bundle: str = ""  # PEM file of trusted CAs for https sources; empty: certifi's bundle

    def limits(self) -> SourceLimits:
        """The bounds that apply to a fetched file's content, after decompression."""
        return SourceLimits(
            max_bytes=self.max_bytes,
            max_ratio=self.max_decompression_ratio,
            max_columns=self.max_columns,
            max_line_bytes=self.max_line_bytes,
            max_field_bytes=self.max_field_bytes,
            deadline_seconds=self.deadline_seconds,
        )

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``; tests override this with a fake resolver."""
        return system_resolve(host, port)

    def fetch(self, url: str, workdir: Path) -> FetchedFile:
        """Fetch ``url`` into ``workdir`` (``file:`` URLs are read in place) and hash it."""
        scheme = self._check_scheme(url)
        if scheme == "file":
            return self._fetch_file(url)
        deadline = time.monotonic() + self.deadline_seconds
        last_error: RetryableFetchError | None = None
        attempt = 0
        while attempt < self.max_attempts:
            attempt += 1
            try:
                return self._fetch_http(url, workdir, deadline)
            except RetryableFetchError as error:
                last_error = error
            pause = self.backoff_seconds * 2 ** (attempt - 1)
            if attempt >= self.max_attempts or time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
        raise SourceUnavailableError(
            url, f"gave up after {attempt} attempt{'s' * (attempt > 1)}: {last_error}"
        ) from last_error

    # -- checks ------------------------------------------------------------------------------
    def _check_scheme(self, url: str) -> str:
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError as error:
            raise FetchError(url, f"not a valid URL ({error})") from None
        if scheme not in {s.lower() for s in self.allowed_schemes}:
            raise FetchError(url, f"scheme {quote(scheme)} is not allowed (allowed: {sorted(self.allowed_schemes)})")
        return scheme

    def _target(self, url: str) -> pinned_http.Target:
        """The vetted connection target of an http(s) URL: checked once, then pinned."""
        from odf_core import pinned_http  # the HTTP client loads with the first download, not the code location

        try:
            parts = urlsplit(url)
            port = parts.port or _DEFAULT_PORTS[parts.scheme.lower()]
        except (ValueError, KeyError) as error:
            raise FetchError(url, f"not a valid http(s) URL ({error})") from None
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchError(url, "no host in URL")
        if any(ord(c) < 0x20 or c in " \x7f" for c in parts.path + parts.query):
            raise FetchError(url, "control characters or spaces in the URL path or query")
        try:
            addresses = vet_host(host, port, self.allowed_hosts, self.resolve, self.allow_link_local)
        except EgressRefused as refused:
            error_type = RetryableFetchError if refused.retryable else FetchError
            raise error_type(url, str(refused)) from None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return pinned_http.Target(parts.scheme.lower(), host, port, path, tuple(addresses), _basic_auth(parts))

    # -- file --------------------------------------------------------------------------------
    def _fetch_file(self, url: str) -> FetchedFile:
        parsed = urlsplit(url)
        if parsed.netloc not in ("", "localhost"):
            raise FetchError(url, "file URLs must not name a host")
        raw_path = unquote(parsed.path)
        if "\x00" in raw_path:
            raise FetchError(url, "the path contains a NUL byte")
        try:
            path = Path(raw_path).resolve()
        except (OSError, ValueError) as error:
            raise FetchError(url, f"unusable path ({type(error).__name__})") from None
        roots = [Path(root).resolve() for root in self.file_roots]
        if not _is_within(path, roots):
            raise FetchError(
                url,
                f"{quote(str(path))} is outside the allowed file roots {[str(r) for r in roots]} "
                "(the registry's own folder, or ODF_FILE_ROOTS)",
            )
        if not path.is_file():
            raise FetchError(url, f"file {quote(str(path))} does not exist")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise FetchError(url, f"{size} bytes exceeds the maximum download size of {self.max_bytes} bytes")
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(chunk)
        return FetchedFile(url, path, digest.hexdigest(), size, None)

    # -- http --------------------------------------------------------------------------------
    def _fetch_http(self, url: str, workdir: Path, deadline: float) -> FetchedFile:
        from odf_core import pinned_http

        current = url
        # Redirects are followed by hand so every hop passes the same scheme/host/address checks.
        for _ in range(self.max_redirects + 1):
            target = self._target(current)
            try:
                with pinned_http.get(
                    target, deadline=deadline, timeout=self.timeout_seconds, ca_bundle=self.ca_bundle
                ) as response:
                    location = (
                        response.headers.get("Location") if response.status in (301, 302, 303, 307, 308) else None
                    )
                    if location is None:
                        return self._save_response(url, response, workdir)
            except pinned_http.TransferError as error:
                raise (RetryableFetchError if error.retryable else FetchError)(current, str(error)) from None
            current = urljoin(current, location)
            if self._check_scheme(current) == "file":
                raise FetchError(url, f"redirect to a file URL {quote(redact_url(current))} is refused")
        raise FetchError(url, f"more than {self.max_redirects} redirects")

    def _save_response(self, url: str, response: pinned_http.Response, workdir: Path) -> FetchedFile:
        if response.status in RETRYABLE_STATUS:
            raise RetryableFetchError(url, f"HTTP {response.status}")
        if response.status != 200:
            raise FetchError(url, f"HTTP {response.status}, expected 200")
        content_type = response.headers.get("Content-Type")
        if content_type and content_type.split(";")[0].strip().lower() in REJECTED_CONTENT_TYPES:
            raise FetchError(url, f"content type {quote(content_type)} is a web page, not a data file")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(url, f"Content-Length {declared} exceeds the maximum of {self.max_bytes} bytes")
        digest, size = hashlib.sha256(), 0
        with tempfile.NamedTemporaryFile(dir=workdir, prefix="fetch-", delete=False) as handle:
            try:
                for chunk in response.chunks(CHUNK_BYTES):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(url, f"body exceeds the maximum download size of {self.max_bytes} bytes")
                    digest.update(chunk)
                    handle.write(chunk)
            except BaseException:
                handle.close()
                os.unlink(handle.name)
                raise
        return FetchedFile(url, Path(handle.name), digest.hexdigest(), size, content_type)
