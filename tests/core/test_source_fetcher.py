"""SourceFetcher against a real local HTTP server: retries, limits, schemes, redirects, roots."""

import hashlib
import time

import pytest

from odf_resources.source_fetcher import FetchError, SourceFetcher
from tests.support.servers import redirect, respond, stall

BODY = b"id,amount\n1,2.5\n"


def fetcher(**overrides):
    # The loopback server is reachable only because it is named: non-public addresses are default-deny.
    options = {"timeout_seconds": 1.0, "max_attempts": 3, "backoff_seconds": 0.01, "allowed_hosts": ["127.0.0.1"]}
    options.update(overrides)
    return SourceFetcher(**options)


def test_fetch_hashes_and_sizes(source_server, tmp_path):
    (source_server.root / "a.csv").write_bytes(BODY)
    fetched = fetcher().fetch(f"{source_server.url}/a.csv", tmp_path)
    assert fetched.path.read_bytes() == BODY
    assert (fetched.sha256, fetched.size) == (hashlib.sha256(BODY).hexdigest(), len(BODY))


def test_5xx_is_retried_then_succeeds(source_server, tmp_path):
    source_server.script("/flaky.csv", respond(503), respond(500), respond(200, BODY))
    fetched = fetcher().fetch(f"{source_server.url}/flaky.csv", tmp_path)
    assert fetched.path.read_bytes() == BODY
    assert source_server.requests_seen.count("/flaky.csv") == 3


def test_persistent_5xx_gives_up_after_bounded_attempts(source_server, tmp_path):
    source_server.script("/down.csv", respond(500))
    with pytest.raises(FetchError, match=r"down.csv: gave up after 3 attempts: .*HTTP 500"):
        fetcher().fetch(f"{source_server.url}/down.csv", tmp_path)
    assert source_server.requests_seen.count("/down.csv") == 3


def test_4xx_is_not_retried(source_server, tmp_path):
    with pytest.raises(FetchError, match=r"missing.csv: HTTP 404, expected 200"):
        fetcher().fetch(f"{source_server.url}/missing.csv", tmp_path)
    assert source_server.requests_seen.count("/missing.csv") == 1


def test_persistent_timeout_is_bounded(source_server, tmp_path):
    source_server.script("/slow.csv", stall(3))
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"slow.csv: gave up after 2 attempts: .*(Timeout|timed out)"):
        fetcher(timeout_seconds=0.3, max_attempts=2).fetch(f"{source_server.url}/slow.csv", tmp_path)
    assert time.monotonic() - started < 2.5


def test_truncated_body_is_detected(source_server, tmp_path):
    source_server.script("/cut.csv", respond(200, BODY[:5], length=len(BODY)))
    with pytest.raises(
        FetchError,
        match=r"cut.csv: gave up after 3 attempts: .*body truncated after "
        r".*IncompleteRead\(5 bytes read, 11 more expected",
    ):
        fetcher().fetch(f"{source_server.url}/cut.csv", tmp_path)


def test_html_error_page_is_rejected(source_server, tmp_path):
    source_server.script(
        "/portal.csv", respond(200, b"<html>maintenance</html>", content_type="text/html; charset=utf-8")
    )
    with pytest.raises(FetchError, match=r"portal.csv: content type 'text/html; charset=utf-8' is a web page"):
        fetcher().fetch(f"{source_server.url}/portal.csv", tmp_path)


def test_oversized_body_is_rejected_by_header_and_by_stream(source_server, tmp_path):
    (source_server.root / "big.csv").write_bytes(b"x" * 5000)
    with pytest.raises(FetchError, match=r"Content-Length 5000 exceeds the maximum of 1000 bytes"):
        fetcher(max_bytes=1000).fetch(f"{source_server.url}/big.csv", tmp_path)

    def no_length(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.end_headers()
        handler.wfile.write(b"y" * 5000)
        handler.close_connection = True

    source_server.script("/stream.csv", no_length)
    workdir = tmp_path / "work"
    workdir.mkdir()
    with pytest.raises(FetchError, match=r"body exceeds the maximum download size of 1000 bytes"):
        fetcher(max_bytes=1000).fetch(f"{source_server.url}/stream.csv", workdir)
    assert list(workdir.iterdir()) == [], "no partial download is left behind"


def test_disallowed_schemes_and_hosts(source_server, tmp_path):
    with pytest.raises(FetchError, match=r"scheme 'ftp' is not allowed"):
        fetcher().fetch("ftp://127.0.0.1/a.csv", tmp_path)
    with pytest.raises(FetchError, match=r"scheme 'http' is not allowed"):
        fetcher(allowed_schemes=["https"]).fetch(f"{source_server.url}/a.csv", tmp_path)
    with pytest.raises(FetchError, match=r"host '127.0.0.1' is not in the allowlist \['data.example.org'\]"):
        fetcher(allowed_hosts=["data.example.org"]).fetch(f"{source_server.url}/a.csv", tmp_path)


def test_redirects_are_checked_hop_by_hop(source_server, tmp_path):
    (source_server.root / "real.csv").write_bytes(BODY)
    source_server.script("/moved.csv", redirect("/real.csv"))
    assert fetcher().fetch(f"{source_server.url}/moved.csv", tmp_path).path.read_bytes() == BODY
    source_server.script("/evil.csv", redirect("file:///etc/passwd"))
    with pytest.raises(FetchError, match=r"scheme 'file' is not allowed|redirect to a file URL"):
        fetcher(allowed_schemes=["http"]).fetch(f"{source_server.url}/evil.csv", tmp_path)
    with pytest.raises(FetchError, match=r"redirect to a file URL 'file:///etc/passwd' is refused"):
        fetcher().fetch(f"{source_server.url}/evil.csv", tmp_path)
    source_server.script("/meta.csv", redirect("http://169.254.169.254/latest/meta-data/"))
    with pytest.raises(FetchError, match=r"host '169.254.169.254' is not in the allowlist"):
        fetcher().fetch(f"{source_server.url}/meta.csv", tmp_path)


def test_file_urls_are_confined_to_roots(tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    (root / "a.csv").write_bytes(BODY)
    (tmp_path / "secret.csv").write_bytes(b"secret")
    confined = fetcher(file_roots=[str(root)])
    assert confined.fetch((root / "a.csv").as_uri(), tmp_path).sha256 == hashlib.sha256(BODY).hexdigest()
    with pytest.raises(FetchError, match=r"is outside the allowed file roots"):
        confined.fetch((tmp_path / "secret.csv").as_uri(), tmp_path)
    with pytest.raises(FetchError, match=r"is outside the allowed file roots"):
        confined.fetch(root.as_uri() + "/../secret.csv", tmp_path)
    with pytest.raises(FetchError, match=r"does not exist"):
        confined.fetch((root / "none.csv").as_uri(), tmp_path)
