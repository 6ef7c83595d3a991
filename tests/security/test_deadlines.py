"""Finding 3: one wall-clock deadline covers connect, headers and body across every attempt, and an
incomplete response is an error, never an empty success."""

import pytest

from odf_resources.source_fetcher import FetchError, SourceFetcher
from tests.security import hostile

DEADLINE = 2.0


def fetcher(**options) -> SourceFetcher:
    defaults = {
        "timeout_seconds": 1.0,
        "deadline_seconds": DEADLINE,
        "max_attempts": 4,
        "backoff_seconds": 0.05,
        "allowed_hosts": ["127.0.0.1"],
    }
    return SourceFetcher(**{**defaults, **options})


@pytest.fixture
def serve():
    servers = []

    def start(behaviour) -> hostile.RawServer:
        servers.append(hostile.RawServer(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize(
    "behaviour", [hostile.slow_headers, hostile.drip_body, hostile.drip_close_delimited, hostile.silent_after_status]
)
def test_slow_servers_are_cut_off_at_the_deadline(behaviour, serve, tmp_path):
    server = serve(behaviour)
    workdir = tmp_path / "work"
    workdir.mkdir()
    seconds, error = hostile.elapsed(lambda: fetcher().fetch(f"{server.url}/data.csv", workdir))
    assert isinstance(error, FetchError), f"expected a FetchError, got {error!r}"
    assert seconds <= DEADLINE + 1.0, f"{behaviour.__name__} held the fetch for {seconds:.1f}s (deadline {DEADLINE}s)"
    assert list(workdir.iterdir()) == [], "no partial download is left behind"


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (hostile.hang_up_mid_headers, r"closed with no body and no Content-Length"),
        (hostile.short_body, r"body truncated after 8 bytes .*IncompleteRead"),
        (hostile.cut_chunked, r"body truncated after 8 bytes"),
    ],
)
def test_incomplete_responses_are_errors_not_empty_successes(behaviour, expected, serve, tmp_path):
    server = serve(behaviour)
    with pytest.raises(FetchError, match=expected):
        fetcher(max_attempts=2).fetch(f"{server.url}/data.csv", tmp_path)
    assert server.connections == 2, "incomplete responses are transient: retried within the deadline"


def test_retries_stop_at_the_deadline(serve, tmp_path):
    server = serve(hostile.silent_after_status)
    seconds, error = hostile.elapsed(
        lambda: fetcher(timeout_seconds=0.5, max_attempts=100).fetch(f"{server.url}/a.csv", tmp_path)
    )
    assert isinstance(error, FetchError) and "gave up after" in str(error)
    assert seconds <= DEADLINE + 1.0
    assert 2 <= server.connections < 100
