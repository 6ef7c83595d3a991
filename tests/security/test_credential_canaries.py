"""Issue 22, observation 9: credentials in ODF_STORAGE, AWS_ENDPOINT_URL, the session token and the
alert webhook URL never reach CLI output, the event log, compute logs or DEBUG logs; the alert
webhook does not follow a redirect to another host."""

from __future__ import annotations

import logging
import os
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from odf.definitions import build_definitions
from odf_sensors.run_failure import FailureRecord, post_alert
from tests.predictions.helpers import item, jsonl, resources_for
from tests.submit.test_submit import DAY, ODF
from tests.support.servers import PostRecorder

pytestmark = pytest.mark.timeout(240)
SESSION_TOKEN = "odf-canary-session-token-91f2a7"
SECRET_KEY = "odf-canary-secret-key-77ab31"
ENDPOINT_PASSWORD = "odf-canary-endpoint-pw-3c9d55"
STORAGE_SECRET = "odf-canary-storage-secret-6e1b08"
WEBHOOK_TOKEN = "odf-canary-webhook-token-5e6f4d"
CANARIES = (SESSION_TOKEN, SECRET_KEY, ENDPOINT_PASSWORD, STORAGE_SECRET, WEBHOOK_TOKEN)


class Redirector:
    """A webhook answering 307 to ``target``: following it would re-send the alert elsewhere."""

    def __init__(self, target: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(307)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/{WEBHOOK_TOKEN}"
        Thread(target=self.httpd.serve_forever, daemon=True).start()


def cli(*args: str, env: dict, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([ODF, *args], input=stdin, capture_output=True, timeout=120, env={**os.environ, **env})


def test_no_credential_from_any_setting_leaks_anywhere(s3_env, moto_server, tmp_path, monkeypatch, caplog, capfd):
    endpoint = moto_server.endpoint.replace("http://", f"http://odfuser:{ENDPOINT_PASSWORD}@")
    elsewhere = PostRecorder(status=200)
    hook = Redirector(f"{elsewhere.url}/collect")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)  # moto accepts any key pair
    monkeypatch.setenv("ODF_ALERT_WEBHOOK_URL", hook.url)
    uri = f"s3://{s3_env}/odf"
    monkeypatch.setenv("ODF_STORAGE", uri)
    outputs = []

    # CLI: a submission through the endpoint with credentials, a query, and a storage URI with credentials.
    batch = tmp_path / "batch.jsonl"
    batch.write_bytes(jsonl(item("a"), item("b")))
    landed = cli("submit", "--date", DAY, str(batch), env={})
    assert landed.returncode == 0, landed.stderr.decode()[-2000:]
    outputs.append(landed)
    outputs.append(cli("predictions", "--date", DAY, env={}))
    with_credentials = f"s3://AKIAODFCANARY:{STORAGE_SECRET}@{s3_env}/odf"
    refused = cli("submit", "--date", DAY, str(batch), env={"ODF_STORAGE": with_credentials})
    assert refused.returncode != 0 and "carries credentials; refused" in refused.stderr.decode()
    outputs.append(refused)
    outputs.append(cli("predictions", "--date", DAY, env={"ODF_STORAGE": with_credentials}))

    # A run, on an instance with compute logs on disk, logging at DEBUG (botocore, urllib3).
    build_definitions()  # loading the code location installs the log redaction, as in every process
    (tmp_path / "home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(tmp_path / "home"))
    from odf_assets.predictions.assets import iris_model, iris_predictions

    capfd.readouterr()
    with caplog.at_level(logging.DEBUG):
        ok = dg.materialize(
            [iris_model, iris_predictions], resources=resources_for(uri), partition_key=DAY, instance=instance
        )
        failed = dg.materialize(
            [iris_model], resources=resources_for(with_credentials), instance=instance, raise_on_error=False
        )
        record = FailureRecord(job="j", run_id="r", partition=DAY, step="s", error="boom", will_retry=False)
        outcome = post_alert(hook.url, record, 5)
    assert ok.success and not failed.success
    assert outcome == "HTTP 307: redirect to another host not followed"
    assert elsewhere.recorded() == [], "the alert was not re-sent to the other host"
    assert any(
        "X-Amz-Security-Token" in r.getMessage() or "Sending http request" in r.getMessage() for r in caplog.records
    )

    haystack = [caplog.text, *capfd.readouterr()]
    for done in outputs:
        haystack += [done.stdout.decode(), done.stderr.decode()]
    for run in instance.get_runs():
        haystack.append(serialize_value(run))
        haystack += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
    compute_logs = [
        p
        for p in Path(tmp_path / "home").rglob("*")
        if p.is_file() and p.suffix in (".out", ".err", ".complete", ".log")
    ]
    haystack += [p.read_text(errors="replace") for p in compute_logs]
    text = "\n".join(haystack)
    leaks = {canary: text.count(canary) for canary in CANARIES if canary in text}
    assert leaks == {}, f"credentials leaked: {leaks}"
    assert "s3://…@" in text, "the refused storage URI is shown, redacted"
