"""Finding 7: a SIGKILLed write leaves an incomplete multipart upload on S3 and staging folders
locally; the maintenance job aborts the first (under ODF's prefix only), staging sweeps the second."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from odf_core.leftovers import abort_stale_multipart_uploads
from odf_resources.storage import LocalStorage
from odf_resources.storage_resource import OdfStorage
from odf_sensors.maintenance import maintenance_job

UPLOAD = """
import sys
from pathlib import Path
from boto3.s3.transfer import TransferConfig
from odf_resources.s3_storage import S3Storage
config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, max_concurrency=1)
S3Storage(sys.argv[1], config).publish_file(Path(sys.argv[2]), "big/date=2024-01-01/data.parquet")
"""
REPO = Path(__file__).resolve().parents[2]


def run_maintenance(uri: str, max_age_hours: float):
    return maintenance_job.execute_in_process(
        resources={"odf_storage": OdfStorage(base=uri)},
        run_config={"ops": {"clean_crash_leftovers": {"config": {"max_age_hours": max_age_hours}}}},
    )


def test_sigkill_mid_multipart_upload_is_aborted_by_the_maintenance_job(s3_env, tmp_path):
    uri = f"s3://{s3_env}/odf"
    client = boto3.client("s3")
    big = tmp_path / "big.parquet"
    with open(big, "wb") as handle:
        handle.truncate(80 << 20)  # 16 parts
    foreign = client.create_multipart_upload(Bucket=s3_env, Key="not-odf/x")["UploadId"]
    child = subprocess.Popen([sys.executable, "-c", UPLOAD, uri, str(big)], cwd=REPO, env=os.environ.copy())
    try:
        started = time.monotonic()
        while time.monotonic() - started < 60 and child.poll() is None:
            uploads = client.list_multipart_uploads(Bucket=s3_env, Prefix="odf/").get("Uploads", [])
            if uploads:
                break
            time.sleep(0.02)
        assert child.poll() is None, "the upload finished before it could be killed: make the file bigger"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
    assert [u["Key"] for u in client.list_multipart_uploads(Bucket=s3_env, Prefix="odf/")["Uploads"]] == [
        "odf/big/date=2024-01-01/data.parquet"
    ]
    assert "Contents" not in client.list_objects_v2(Bucket=s3_env, Prefix="odf/"), "no partial object is visible"

    # moto dates every upload 2010-11-10, so the age cut-off is tested on its own below.
    assert run_maintenance(uri, max_age_hours=24).success
    assert client.list_multipart_uploads(Bucket=s3_env, Prefix="odf/").get("Uploads", []) == []
    others = client.list_multipart_uploads(Bucket=s3_env).get("Uploads", [])
    assert [u["UploadId"] for u in others] == [foreign], "uploads outside ODF's prefix are left alone"


STAGE = """
import sys, tempfile, time
from odf_core.leftovers import abort_stale_multipart_uploads
from odf_resources.storage import LocalStorage
with tempfile.TemporaryDirectory(dir=LocalStorage(sys.argv[1]).staging_dir(), prefix=".tmp-") as staging:
    open(f"{staging}/part.parquet", "wb").write(b"x" * 1000)
    print(staging, flush=True)
    time.sleep(60)
"""


def test_staging_left_by_a_killed_write_is_swept_once_stale(tmp_path):
    base = tmp_path / "storage"
    child = subprocess.Popen([sys.executable, "-c", STAGE, str(base)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        leftover = Path(child.stdout.readline().strip())
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(10)
    assert (leftover / "part.parquet").exists(), "SIGKILL skips the TemporaryDirectory clean-up"
    fresh = leftover.parent / ".tmp-running-write"
    fresh.mkdir()
    two_days_ago = time.time() - 2 * 86400
    for path in (leftover / "part.parquet", leftover):
        os.utime(path, (two_days_ago, two_days_ago))
    LocalStorage(base).staging_dir()  # the next write's start, in a process that has not swept yet
    assert not leftover.exists() and fresh.exists()


def test_local_publish_temp_files_are_removed_by_the_maintenance_job(tmp_path):
    base = tmp_path / "storage"
    folder = base / "sales" / "cleaned_sales" / "date=2024-01-01"
    folder.mkdir(parents=True)
    stale, data = folder / ".tmp-0123abcd-data.parquet", folder / "data.parquet"
    stale.write_bytes(b"half")
    data.write_bytes(b"whole")
    old = time.time() - 2 * 86400
    os.utime(stale, (old, old))
    assert run_maintenance(str(base), max_age_hours=24).success
    assert not stale.exists() and data.exists()


class Uploads:
    """The two S3 calls abort_stale_multipart_uploads makes, over a fixed list of uploads."""

    def __init__(self, uploads):
        self.uploads, self.aborted = uploads, []

    def get_paginator(self, name):
        assert name == "list_multipart_uploads"
        outer = self

        class Paginator:
            def paginate(self, Bucket, Prefix):
                yield {"Uploads": [u for u in outer.uploads if u["Key"].startswith(Prefix)]}

        return Paginator()

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self.aborted.append(UploadId)


def test_only_uploads_older_than_the_cut_off_are_aborted():
    now = datetime.now(UTC)
    client = Uploads(
        [
            {"Key": "odf/a", "UploadId": "old", "Initiated": now - timedelta(hours=25)},
            {"Key": "odf/b", "UploadId": "running", "Initiated": now - timedelta(minutes=5)},
            {"Key": "other/c", "UploadId": "foreign", "Initiated": now - timedelta(days=9)},
        ]
    )
    assert abort_stale_multipart_uploads(client, "bucket", "odf/", max_age_seconds=24 * 3600) == ["odf/a"]
    assert client.aborted == ["old"]
