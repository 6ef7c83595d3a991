"""The predictions domain's Definitions, merged into the ODF code location by ``odf_assets.definitions``.

It brings its own ``odf_storage`` resource; the ``parquet_io_manager`` comes from the core definitions
(``Definitions.merge`` rejects two different resources under one key).
"""

import dagster as dg

from odf_assets.predictions.assets import PREDICTION_ASSETS, iris_predictions_job
from odf_resources import settings
from odf_resources.storage_resource import OdfStorage
from odf_sensors.landing import iris_landing_sensor


def build_prediction_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=PREDICTION_ASSETS,
        jobs=[iris_predictions_job],
        sensors=[iris_landing_sensor],
        resources={"odf_storage": OdfStorage(base=settings.storage_uri())},
    )
