"""Issue 22, observations 6 and 7: storage that throttles or fails is retried everywhere (botocore's
adaptive mode with more attempts, a RetryPolicy with jitter on every asset touching storage), and a
full disk while staging is a storage error, never a data check's verdict."""

from __future__ import annotations

import contextlib
import errno
import resource
import signal

import polars as pl
import pytest

from odf.definitions import build_definitions
from odf_assets.predictions import store
from odf_assets.sources.source_files import parse_errors
from odf_resources.storage import StorageError, is_storage_failure, storage_from_uri
from tests.predictions.helpers import item, jsonl, land, materialize_model, materialize_predictions
from tests.support.faults import FlakyS3Proxy

pytestmark = pytest.mark.timeout(240)
DAY = "2024-05-01"


@pytest.mark.slow
def test_a_quarter_of_s3_requests_failing_does_not_fail_the_predictions(s3_env, moto_server, monkeypatch):
    uri = f"s3://{s3_env}/odf"
    materialize_model(uri)
    for n in range(3):
        land(storage_from_uri(uri), DAY, f"part-{n}.jsonl", jsonl(*[item(f"i{n}-{k}") for k in range(20)]))
    # Five failures in a row: botocore's default 3 (standard) or 5 (legacy) attempts give up.
    proxy = FlakyS3Proxy(moto_server.endpoint, burst=5)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        assert materialize_predictions(uri, DAY).success
        assert store.read_stored(storage_from_uri(uri), store.PREDICTIONS_PATH, DAY).height == 60
        assert proxy.failures >= 10, "the endpoint really failed requests"
    finally:
        proxy.stop()


def test_every_asset_touching_storage_retries_with_jitter(tmp_path, monkeypatch):
    defs = build_definitions()
    missing = []
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if not assets_def.is_executable:
            continue
        policy = assets_def.op.retry_policy
        if policy is None or policy.jitter is None:
            missing.extend(key.to_user_string() for key in assets_def.keys)
    assert not missing, f"assets without a RetryPolicy with jitter: {missing}"


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        pl.exceptions.ComputeError("failed to write: No space left on device (os error 28)"),
    ],
    ids=["oserror", "polars"],
)
def test_a_full_disk_while_staging_is_a_storage_error_not_a_data_problem(tmp_path, error):
    with (
        pytest.raises(StorageError, match="storage failure while staging"),
        parse_errors(tmp_path / "f.csv", "csv", "shop day.csv"),
    ):
        raise error


@contextlib.contextmanager
def file_size_limit(limit: int):
    """Writes past ``limit`` bytes fail with EFBIG, as a full volume fails them (real OS errors, no root)."""
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


def test_a_full_volume_while_staging_landed_files_is_raised_not_blamed_on_the_file(tmp_path):
    storage = storage_from_uri(str(tmp_path / "storage"))
    land(storage, DAY, "a.jsonl", jsonl(*[item(f"item-{n:06d}", petal_length=n % 70 / 10) for n in range(4_000)]))
    with pytest.raises(Exception) as raised, file_size_limit(16 << 10):  # noqa: PT011 - OSError or Polars' wrap
        store.stage_landed(storage, DAY, tmp_path / "staged")
    assert is_storage_failure(raised.value)
