"""Planted secrets (an AWS secret key, an API token in a source URL) never reach the event log,
materialization metadata, run config/tags or console output."""

import dagster as dg
from dagster._serdes import serialize_value

from odf.definitions import build_definitions
from tests.support.pipeline import run_assets, write_registry

PLANTED_KEY = "odf-planted-aws-secret-5f1c2e"
PLANTED_TOKEN = "odf-planted-api-token-8a7b6c"


def test_planted_secrets_do_not_leak(source_server, s3_env, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PLANTED_KEY)  # moto accepts any key pair
    monkeypatch.setenv("ODF_STORAGE", f"s3://{s3_env}/odf")
    (source_server.root / "2024-02-01.csv").write_text("receipt,amount\nr1,1.0\n")
    (source_server.root / "2024-02-02.csv").write_text("receipt,amount\nr1,oops\n")
    registry = write_registry(
        tmp_path,
        [
            {
                "name": "token_source",
                "description": "A source whose URL carries an API token.",
                "license": "CC0-1.0",
                "owner": "ODF tests",
                "format": "csv",
                "start_date": "2024-02-01",
                "schema": {"receipt": "string", "amount": "float64"},
                "url_template": f"{source_server.url}/{{date}}.csv?api_key={PLANTED_TOKEN}&day={{date}}",
            }
        ],
    )
    monkeypatch.setenv("ODF_SOURCES", str(registry))
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions()
    ok = run_assets(defs, ["raw/token_source"], partition_key="2024-02-01", instance=instance)
    failed = run_assets(defs, ["raw/token_source"], partition_key="2024-02-02", instance=instance)  # error path too
    assert ok.success and not failed.success
    assert any(PLANTED_TOKEN in path for path in source_server.requests_seen), "the token was really used"
    recorded = []
    for run in instance.get_runs():
        recorded.append(serialize_value(run))
        recorded += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
    recorded.append(serialize_value(defs.resolve_asset_graph().get(dg.AssetKey(["raw", "token_source"])).metadata))
    captured = capfd.readouterr()
    haystack = "\n".join(recorded) + captured.out + captured.err
    assert "api_key=" in haystack, "the URL is recorded, with its token redacted"
    for secret in (PLANTED_KEY, PLANTED_TOKEN):
        assert secret not in haystack
