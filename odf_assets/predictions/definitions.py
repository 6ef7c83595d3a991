"""The predictions domain's Definitions, merged into the ODF code location by ``odf_assets.definitions``.

Its ``odf_storage`` resource comes from the core definitions (``Definitions.merge`` rejects two
different resources under one key).
"""

import dagster as dg

from odf_assets.predictions.assets import PREDICTION_ASSETS, iris_predictions_job
from odf_assets.predictions.drift_check import prediction_drift
from odf_sensors.landing import iris_landing_sensor


def build_prediction_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=PREDICTION_ASSETS,
        asset_checks=[prediction_drift],
        jobs=[iris_predictions_job],
        sensors=[iris_landing_sensor],
    )
