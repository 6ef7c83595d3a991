"""ODF storage on an S3 prefix, and the S3 client every ODF read and write goes through.

boto3 is imported here only when a client is made: the code location loads without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from odf_resources.storage import TEMP_PREFIX, Storage, StoredObject, safe_key, split_storage_uri

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

# botocore's default (legacy mode, 3 attempts) gave up within a second under an endpoint answering a
# quarter of requests with 503 SlowDown; adaptive mode backs off with jitter and rate-limits itself.
S3_RETRY_MODE = "adaptive"
S3_MAX_ATTEMPTS = 10


def s3_client():
    """The S3 client of every ODF read and write: endpoint and credentials from the AWS environment."""
    import boto3
    from botocore.config import Config

    from odf_resources import settings

    # The endpoint without userinfo: botocore would quote it whole in every connection error.
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url(),
        config=Config(retries={"mode": S3_RETRY_MODE, "max_attempts": S3_MAX_ATTEMPTS}),
    )


class S3Storage(Storage):
    """``s3://bucket/prefix``; endpoint and credentials come from the standard AWS environment."""

    def __init__(self, uri: str, transfer_config: TransferConfig | None = None):
        parts = split_storage_uri(uri)
        if parts is None:
            raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket[/prefix])")
        self.bucket, self.prefix = parts
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        from boto3.s3.transfer import TransferConfig

        self.transfer_config = transfer_config or TransferConfig()
        self.client = s3_client()

    def _object_key(self, key: str) -> str:
        key = safe_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def scan_options(self) -> dict | None:
        from odf_resources import settings

        # Polars reads AWS_ENDPOINT_URL itself, userinfo included; hand it the cleaned endpoint.
        endpoint = settings.s3_endpoint_url()
        return {"aws_endpoint_url": endpoint} if endpoint else None

    def publish_file(self, local_path: Path, key: str) -> None:
        # upload_file aborts its multipart upload on any failure, so no partial object is left.
        self.client.upload_file(str(local_path), self.bucket, self._object_key(key), Config=self.transfer_config)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def size(self, key: str) -> int:
        return int(self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))["ContentLength"])

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))["Body"].read()

    def list(self, prefix: str) -> list[StoredObject]:
        object_prefix = self._object_key(prefix) + "/"
        strip = len(self.prefix) + 1 if self.prefix else 0
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=object_prefix):
            for item in page.get("Contents", []):
                key = item["Key"][strip:]
                if not any(part.startswith(TEMP_PREFIX) for part in key.split("/")):
                    found.append(StoredObject(key, int(item["Size"]), item["ETag"].strip('"')))
        return sorted(found, key=lambda item: item.key)

    def open_stream(self, key: str) -> BinaryIO:
        return self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))["Body"]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def create_exclusive(self, data: bytes, key: str) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data, IfNoneMatch="*")
        except self.client.exceptions.ClientError as error:
            # 412: the object exists; 409: a concurrent conditional write to the same key won.
            if error.response.get("Error", {}).get("Code") in {
                "PreconditionFailed",
                "412",
                "ConditionalRequestConflict",
                "409",
            }:
                return False
            raise
        return True
