"""Fixtures for the predictions tests: ODF storage in a temp dir or on the loopback S3 server."""

from __future__ import annotations

import pytest

from odf_resources.storage import Storage, storage_from_uri


@pytest.fixture(params=["local", "s3"])
def storage_uri(request, tmp_path, monkeypatch) -> str:
    """The same test against a temp directory and against a bucket on the loopback S3 server."""
    if request.param == "local":
        uri = str(tmp_path / "storage")
    else:
        uri = f"s3://{request.getfixturevalue('s3_env')}/odf"
    monkeypatch.setenv("ODF_STORAGE", uri)
    return uri


@pytest.fixture
def storage(storage_uri) -> Storage:
    return storage_from_uri(storage_uri)
