"""Helpers for the predictions tests: resources, landing-file writers, materializations."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import dagster as dg

from odf_assets.predictions.transforms import FEATURES
from odf_resources.parquet_io_manager import OdfParquetIOManager
from odf_resources.storage import Storage
from odf_resources.storage_resource import OdfStorage


def resources_for(uri: str) -> dict:
    return {"odf_storage": OdfStorage(base=uri), "parquet_io_manager": OdfParquetIOManager.at(uri)}


def jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def item(item_id, sepal_length=5.1, sepal_width=3.5, petal_length=1.4, petal_width=0.2) -> dict:
    return {"id": item_id, **dict(zip(FEATURES, (sepal_length, sepal_width, petal_length, petal_width), strict=True))}


def land(storage: Storage, day: str, name: str, data: bytes) -> None:
    """A client dropping a file: an atomic publish, like an S3 PUT or a write-then-rename."""
    storage.publish_bytes(data, f"landing/iris/date={day}/{name}")


def land_raw(storage_uri: str, key: str, data: bytes) -> None:
    """Write under any name, bypassing ``safe_key``, as a careless client could."""
    if storage_uri.startswith("s3://"):
        bucket, _, prefix = storage_uri[len("s3://") :].partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)
    else:
        path = Path(storage_uri) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def materialize_model(uri: str, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    from odf_assets.predictions.assets import iris_model

    return dg.materialize([iris_model], resources=resources_for(uri), run_config=run_config)


def materialize_predictions(uri: str, day: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    from odf_assets.predictions.assets import iris_predictions

    return dg.materialize(
        [iris_predictions], resources=resources_for(uri), partition_key=day, raise_on_error=raise_on_error
    )


def materialization_metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    assert len(events) == 1, f"expected one materialization of {key.to_user_string()}, got {len(events)}"
    return events[0].materialization.metadata
