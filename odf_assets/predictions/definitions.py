"""The predictions domain: the iris model, the daily predictions and their drift check.

Its landing sensor is orchestration (odf_sensors/landing.py); the ``odf_storage`` resource comes
from odf_resources/definitions.py.
"""

import dagster as dg

from odf_assets.predictions.assets import PREDICTION_ASSETS, iris_predictions_job
from odf_assets.predictions.drift_check import prediction_drift


def defs() -> dg.Definitions:
    return dg.Definitions(assets=PREDICTION_ASSETS, asset_checks=[prediction_drift], jobs=[iris_predictions_job])
