"""Shared fixtures: a loopback S3-compatible server, a local HTTP source server, isolated env."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest

from odf_resources.storage import Storage, storage_from_uri
from tests.support.scheduling import costliest_files_first
from tests.support.servers import MotoServer, SourceServer


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    # Under pytest-xdist each worker collects; the controller hands out files in the order they report.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        costliest_files_first(items)


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(moto_server, monkeypatch):
    """AWS_* pointing at the loopback server and a fresh bucket; yields the bucket name."""
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"odf-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def source_server(tmp_path, monkeypatch):
    # Loopback is default-deny for sources: the test server is reachable because it is named.
    monkeypatch.setenv("ODF_ALLOWED_HOSTS", "127.0.0.1")
    root = tmp_path / "served"
    root.mkdir()
    server = SourceServer(root)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def isolated_odf_env(monkeypatch, tmp_path):
    """Tests never see the developer's ODF_/AWS_ settings; storage defaults to a temp dir."""
    for name in (
        "ODF_STORAGE",
        "ODF_SOURCES",
        "ODF_FILE_ROOTS",
        "ODF_ALLOWED_HOSTS",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "OPENLINEAGE_URL",
        "OPENLINEAGE_CONFIG",
        "DAGSTER_HOME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ODF_STORAGE", str(tmp_path / "storage"))
    # Run-level retries of unavailable sources would otherwise wait 10 s, 20 s in failure tests.
    monkeypatch.setenv("ODF_RETRY_DELAY_SECONDS", "0")


@pytest.fixture(params=["local", "s3"])
def storage_uri(request, tmp_path, monkeypatch) -> str:
    """The same test against a temp directory and against a bucket on the loopback S3 server."""
    uri = str(tmp_path / "storage") if request.param == "local" else f"s3://{request.getfixturevalue('s3_env')}/odf"
    monkeypatch.setenv("ODF_STORAGE", uri)
    return uri


@pytest.fixture
def storage(storage_uri) -> Storage:
    return storage_from_uri(storage_uri)
