"""Finding 1: canary credentials in a source URL (``user:password@`` and ``?token=``) go through
every fetch failure mode and every data failure mode of a real ``odf materialize`` run; then
everything written is searched: the instance folder (SQLite event logs, compute logs), the
storage, the CLI's output, Python logs and the OpenLineage events of the run. Zero hits."""

import os
from pathlib import Path

import pytest
import yaml

from odf_cli.main import main as odf
from tests.security.hostile import RawServer, drip_body
from tests.support.pipeline import write_registry
from tests.support.servers import free_port, redirect, respond, stall

USER, PASSWORD, TOKEN = "odfcanaryuser", "odf-canary-pass-7f3a", "odf-canary-token-91bd"
CANARIES = (USER, PASSWORD, TOKEN)
DAY = "2024-02-01"
DATA_FAILURES = {
    "bad_value": "receipt,amount\nr1,oops\n",
    "missing_column": "receipt\nr1\n",
    "empty_file": "",
    "malformed_rows": 'receipt,amount\n"r1,1.0\nr2,2.0,3,4\n',
}


def source(name: str, base: str) -> dict:
    return {
        "name": name,
        "description": f"Canary source: {name}.",
        "license": "CC0-1.0",
        "owner": "ODF tests",
        "format": "csv",
        "start_date": DAY,
        "schema": {"receipt": "string", "amount": "float64"},
        "url_template": f"{base}/{name}/{{date}}.csv?token={TOKEN}&day={{date}}",
    }


def with_credentials(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{PASSWORD}@{rest}"


def instance_home(home: Path) -> Path:
    """A SQLite instance (run-sharded event logs, local compute logs), as ``odf`` makes locally."""
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}}))
    return home


def lineage_payloads(home: Path, storage: str) -> list[bytes]:
    """The OpenLineage events ODF sends for everything in the instance, as the JSON sent."""
    import dagster as dg
    from openlineage.client.serde import Serde

    from odf_resources.lineage.feed import Naming, lineage_events, read_records

    with dg.DagsterInstance.from_config(str(home)) as instance:
        records, _ = read_records(instance, 0, 10_000)
        naming = Naming(storage, "odf")
        return [
            Serde.to_json(event).encode() for record in records for event in lineage_events(instance, record, naming)
        ]


def everything_written(*folders: Path) -> bytes:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                found.append(path.read_bytes())
    return b"\n".join(found)


@pytest.mark.timeout(240)
def test_no_failure_mode_leaks_url_credentials(source_server, tmp_path, monkeypatch, capfd, caplog):
    monkeypatch.setenv("ODF_FETCH_DEADLINE_SECONDS", "1")
    home = instance_home(tmp_path / "dagster_home")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    served = with_credentials(source_server.url)
    for name, body in DATA_FAILURES.items():
        (source_server.root / name).mkdir()
        (source_server.root / name / f"{DAY}.csv").write_text(body)
    source_server.script(f"/http_500/{DAY}.csv", respond(500))
    source_server.script(f"/timeout/{DAY}.csv", stall(5))
    source_server.script(f"/html_page/{DAY}.csv", respond(200, b"<html>down</html>", content_type="text/html"))
    source_server.script(f"/truncated/{DAY}.csv", respond(200, b"receipt,amount\n", length=500))
    source_server.script(f"/metadata_redirect/{DAY}.csv", redirect(f"http://169.254.169.254/latest/?token={TOKEN}"))
    dripping = RawServer(drip_body)
    sources = [
        source(name, served)
        for name in ("not_found", "http_500", "timeout", "html_page", "truncated", "metadata_redirect", *DATA_FAILURES)
    ]
    sources += [
        source("refused", with_credentials(f"http://127.0.0.1:{free_port()}")),
        source("slow_drip", with_credentials(dripping.url)),
    ]
    monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, sources)))
    try:
        selection = ",".join(f"raw/{s['name']}" for s in sources)
        status = odf(["materialize", "--select", selection, "--start", DAY, "--end", DAY])
    finally:
        dripping.stop()
    out, err = capfd.readouterr()
    assert status != 0
    # The credentials were really used: in the request line and as Basic auth.
    assert any(TOKEN in path for path in source_server.requests_seen)
    storage = Path(os.environ["ODF_STORAGE"])
    events = lineage_payloads(home, str(storage))
    assert sum(b'"FAIL"' in body for body in events) == len(sources), "one lineage FAIL event per failed source"
    haystack = b"\n".join(
        [
            everything_written(home, storage) if storage.exists() else everything_written(home),
            out.encode(),
            err.encode(),
            caplog.text.encode(),
            *events,
        ]
    )
    assert b"token=" in haystack, "the failing URLs are named (redacted) where the errors are recorded"
    for canary in CANARIES:
        assert canary.encode() not in haystack, f"{canary} leaked"


def test_lineage_delivery_logs_redact_backend_urls(monkeypatch):
    from odf_resources.lineage.transport import redact

    monkeypatch.setenv("OPENLINEAGE_API_KEY", "olk-canary-key")
    text = redact(
        f"POST https://{USER}:{PASSWORD}@lineage.example/api/v1/lineage?api_key={TOKEN}&x=1 failed: olk-canary-key"
    )
    assert "lineage.example/api/v1/lineage?api_key=…&x=…" in text
    for canary in (*CANARIES, "olk-canary-key"):
        assert canary not in text
