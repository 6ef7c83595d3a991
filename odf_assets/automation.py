"""Declarative automation: derived assets follow their inputs; raw assets keep their schedules.

Dagster's ``eager()`` only looks at the latest time partition, so a day re-fetched or backfilled in
the past would not propagate; these conditions drop that window and keep the rest of eager (only
after an input updated since this partition was last requested or materialized, never with an
input missing or in progress). Updates made by a run that also targeted the asset (an ingest job
running raw and aggregates together) are ignored by ``any_deps_updated``, so nothing runs twice.
"""

from __future__ import annotations

import dagster as dg

AC = dg.AutomationCondition

# Daily assets: an input updated or being requested this tick. Requests of one day across assets
# sharing a partitioning go into one run, where Dagster orders the steps.
FOLLOW_DAILY_INPUTS = (
    AC.any_deps_updated().since_last_handled()
    & ~AC.any_deps_missing()
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
).with_label("follow_daily_inputs")

# Weekly assets: all seven days stored and one of them newly materialized. Days only requested
# this tick don't count: they run in another (daily) run, which a weekly run must not overtake.
_DAY_MATERIALIZED = (AC.newly_updated() & ~AC.executed_with_root_target()).with_label("newly_materialized")
FOLLOW_WEEK_OF_DAYS = (
    AC.any_deps_match(_DAY_MATERIALIZED).since_last_handled()
    & ~AC.any_deps_match(AC.missing() | AC.will_be_requested() | AC.in_progress()).with_label("a_day_missing_or_pending")
    & ~AC.in_progress()
).with_label("follow_week_of_days")

AUTOMATION_SENSOR = "odf_automation_sensor"


def build_automation_sensor(minimum_interval_seconds: int) -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's condition (running by default: without it nothing follows)."""
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        # Follow-up runs compute, they never fetch.
        run_tags={"odf/queue": "aggregation"},
        description="Runs aggregates, consolidations and weekly assets once their inputs are updated.",
    )
