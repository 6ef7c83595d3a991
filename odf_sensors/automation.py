"""The automation sensor: evaluates the automation conditions every asset declares (odf_assets/automation.py)."""

from __future__ import annotations

import dagster as dg

from odf_resources.constants import AGGREGATION_TAGS

AUTOMATION_SENSOR = "odf_automation_sensor"


def build_automation_sensor(minimum_interval_seconds: int) -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's condition (running by default: without it nothing follows)."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        # Follow-up runs compute, they never fetch.
        run_tags=AGGREGATION_TAGS,
        description="Runs aggregates, consolidations and weekly assets once their inputs are updated.",
    )
