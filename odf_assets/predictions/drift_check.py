"""The per-day drift check on ``predictions/iris_predictions``; the measures live in ``drift``.

A separate check (its own step after the predictions), so scoring never waits for it and it can be
re-run on stored days alone. The reference is the training split of the bundled iris data, the
split ``predictions/iris_model`` trains on.
"""

import functools
import io
from typing import TYPE_CHECKING

import dagster as dg

from odf_assets.predictions.assets import IRIS_PREDICTIONS, iris_daily_partitions
from odf_assets.predictions.transforms import PREDICTIONS_PATH
from odf_resources import settings
from odf_resources.constants import PARTITION_COLUMN
from odf_resources.parquet_io_manager import object_key
from odf_resources.storage_resource import OdfStorage

if TYPE_CHECKING:
    from odf_assets.predictions.drift import TrainingProfile

PREDICTION_DRIFT = "prediction_drift"


@functools.cache
def iris_training_profile() -> "TrainingProfile":
    from odf_assets.predictions import drift
    from odf_assets.predictions.model import iris_holdout  # scikit-learn: imported by the check only

    holdout = iris_holdout()
    return drift.training_profile(holdout.train_x.tolist(), holdout.train_y.tolist())


@dg.asset_check(
    asset=IRIS_PREDICTIONS,
    name=PREDICTION_DRIFT,
    partitions_def=iris_daily_partitions,
    description="The day's predicted classes (PSI) and feature ranges against the training data: WARN or ERROR "
    "above the ODF_DRIFT_* limits.",
)
def prediction_drift(context: dg.AssetCheckExecutionContext, odf_storage: OdfStorage) -> dg.AssetCheckResult:
    import polars as pl

    from odf_assets.predictions import drift  # the measures load when the check runs

    thresholds = settings.drift_thresholds()
    storage = odf_storage.get()
    key = object_key(PREDICTIONS_PATH, PARTITION_COLUMN, context.partition_key)
    predictions = pl.read_parquet(io.BytesIO(storage.read_bytes(key))) if storage.exists(key) else pl.DataFrame()
    profile = iris_training_profile()
    report = drift.assess(predictions, profile, thresholds)
    return dg.AssetCheckResult(
        passed=report.level == drift.OK,
        # A passing result carries the highest severity the check can fail with.
        severity=dg.AssetCheckSeverity.WARN if report.level == drift.WARN else dg.AssetCheckSeverity.ERROR,
        metadata={
            name: dg.MetadataValue.json(value) if isinstance(value, (dict, list)) else value
            for name, value in report.metadata(profile, thresholds).items()
            if value is not None
        },
        description="; ".join(report.reasons) or None,
    )
