"""Finding 2: non-public addresses are default-deny, metadata in every spelling is refused, and the
vetted address is the one connected to (no DNS rebinding), with Host and SNI kept."""

import pytest

from odf_resources.source_fetcher import FetchError, SourceFetcher
from tests.security.hostile import FakeResolver, TlsServer, self_signed, with_resolver
from tests.support.servers import respond

BODY = b"id,amount\n1,2.5\n"
NON_PUBLIC = ["127.0.0.1", "::1", "10.0.0.5", "172.16.3.4", "192.168.1.1", "100.64.0.1", "fd12:3456::1", "198.18.0.1"]
METADATA_FORMS = [
    "169.254.169.254",
    "::ffff:169.254.169.254",
    "fd00:ec2::254",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "::a9fe:a9fe",
    "169.254.170.2",
    "fe80::1",
    "224.0.0.1",
    "0.0.0.0",
    "::",
]


def fetcher(resolver: FakeResolver, **options) -> SourceFetcher:
    defaults = {"timeout_seconds": 1.0, "deadline_seconds": 5.0, "max_attempts": 1, "backoff_seconds": 0.01}
    return with_resolver(resolver, **{**defaults, **options})


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses_are_refused_unless_the_host_is_named(address, tmp_path, loopback_only):
    resolver = FakeResolver({"portal.test": [[address]]})
    with pytest.raises(
        FetchError,
        match=rf"'portal.test' resolves to {address}, an? .* address; refused unless ODF_ALLOWED_HOSTS names the host",
    ):
        fetcher(resolver).fetch("http://portal.test/data.csv", tmp_path)
    assert resolver.calls == ["portal.test"]


@pytest.mark.parametrize("address", METADATA_FORMS)
def test_metadata_link_local_and_unusable_addresses_are_refused_even_when_named(address, tmp_path):
    resolver = FakeResolver({"metadata.test": [[address]]})
    with pytest.raises(FetchError, match=r"resolves to .*; refused"):
        fetcher(resolver, allowed_hosts=["metadata.test"]).fetch("http://metadata.test/latest/meta-data/", tmp_path)
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(FetchError, match=r"resolves to .*; refused"):
        fetcher(resolver, allowed_hosts=[address]).fetch(f"http://{literal}/latest/", tmp_path)


def test_one_bad_answer_among_good_ones_refuses_the_host(tmp_path):
    resolver = FakeResolver({"mixed.test": [["127.0.0.1", "169.254.169.254"]]})
    with pytest.raises(FetchError, match=r"169.254.169.254, a cloud metadata address; refused"):
        fetcher(resolver, allowed_hosts=["mixed.test"]).fetch("http://mixed.test/a.csv", tmp_path)


def test_a_named_host_connects_to_the_vetted_address_and_keeps_its_host_header(source_server, tmp_path):
    port = source_server.url.rsplit(":", 1)[1]
    seen = []

    def record(handler):
        seen.append(handler.headers["Host"])
        respond(200, BODY)(handler)

    source_server.script("/a.csv", record)
    fetched = fetcher(FakeResolver({"data.test": [["127.0.0.1"]]}), allowed_hosts=["data.test"]).fetch(
        f"http://data.test:{port}/a.csv", tmp_path
    )
    assert fetched.path.read_bytes() == BODY
    assert seen == [f"data.test:{port}"]


def test_dns_rebinding_after_the_check_is_never_connected_to(source_server, tmp_path, loopback_only):
    """The first answer is checked and used; a second lookup would have said metadata (or, for real
    DNS, not resolved at all): the fetch works only because the vetted address is pinned."""
    (source_server.root / "a.csv").write_bytes(BODY)
    port = source_server.url.rsplit(":", 1)[1]
    resolver = FakeResolver({"rebind.test": [["127.0.0.1"], ["169.254.169.254"]]})
    fetched = fetcher(resolver, allowed_hosts=["rebind.test"]).fetch(f"http://rebind.test:{port}/a.csv", tmp_path)
    assert fetched.path.read_bytes() == BODY
    assert resolver.calls == ["rebind.test"], "one lookup per hop: the checked answer is the connected one"
    # The next fetch looks up again, gets the rebound answer, and is refused before connecting.
    with pytest.raises(FetchError, match=r"169.254.169.254, a cloud metadata address; refused"):
        fetcher(resolver, allowed_hosts=["rebind.test"]).fetch(f"http://rebind.test:{port}/a.csv", tmp_path)
    assert not loopback_only


def test_redirects_from_a_portal_to_internal_addresses_are_refused(source_server, tmp_path):
    port = source_server.url.rsplit(":", 1)[1]
    resolver = FakeResolver({"portal.test": [["127.0.0.1"]], "internal.test": [["10.1.2.3"]]})
    portal = fetcher(resolver, allowed_hosts=["portal.test"])
    cases = {
        "/to-loopback.csv": (f"http://127.0.0.1:{port}/secret", r"host '127.0.0.1' is not in the allowlist"),
        "/to-metadata.csv": ("http://[::ffff:169.254.169.254]/latest/", r"is not in the allowlist"),
        "/to-private.csv": ("http://internal.test/admin", r"host 'internal.test' is not in the allowlist"),
    }
    for path, (location, expected) in cases.items():
        source_server.script(
            path,
            lambda h, loc=location: (
                h.send_response(302),
                h.send_header("Location", loc),
                h.send_header("Content-Length", "0"),
                h.end_headers(),
            ),
        )
        with pytest.raises(FetchError, match=expected):
            portal.fetch(f"http://portal.test:{port}{path}", tmp_path)


def test_tls_keeps_sni_and_certificate_checks_on_the_name(tmp_path):
    cert, key = self_signed(tmp_path, "data.test")
    server = TlsServer(cert, key, BODY)
    try:
        resolver = FakeResolver({"data.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
        secure = fetcher(resolver, allowed_hosts=["data.test", "other.test"], ca_bundle=str(cert))
        fetched = secure.fetch(f"https://data.test:{server.port}/a.csv", tmp_path)
        assert fetched.path.read_bytes() == BODY
        assert server.sni == ["data.test"]
        assert f"Host: data.test:{server.port}\r\n".encode() in server.heads[0]
        # The certificate is checked against the URL's name, not the pinned IP.
        with pytest.raises(FetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate|hostname"):
            secure.fetch(f"https://other.test:{server.port}/a.csv", tmp_path)
    finally:
        server.stop()
