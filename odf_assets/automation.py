"""Declarative automation: derived assets follow their inputs; raw assets keep their schedules.

Dagster's ``eager()`` only looks at the latest time partition, so a day re-fetched or backfilled in
the past would not propagate; these conditions drop that window and keep the rest of eager (only
after an input updated since this partition was last requested or materialized, never with an
input missing or in progress). Updates made by a run that also built the asset are ignored, so
nothing runs twice.
"""

from __future__ import annotations

import dagster as dg

AC = dg.AutomationCondition

# Job tag of the ingest jobs (odf_sensors.schedules; its value is the job's name), so every run of
# them carries it: they rebuild every daily asset downstream of the raw day in the same run. A run
# launched without an asset selection does not tell Dagster's executed_with_root_target; the tag can.
INGEST_RUN_TAG = "odf/ingest"


def _follow(input_updated: dg.AutomationCondition, label: str) -> dg.AutomationCondition:
    """An input updated (or requested this tick: requests of one day across assets sharing a
    partitioning go into one run, where Dagster orders the steps), none missing or running."""
    return (
        AC.any_deps_match(input_updated | AC.will_be_requested()).since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label(label)


_UPDATED = (AC.newly_updated() & ~AC.executed_with_root_target()).with_label("newly_updated_without_root")
_UPDATED_OUTSIDE_INGEST = (_UPDATED & ~AC.executed_with_tags(tag_keys={INGEST_RUN_TAG})).with_label(
    "newly_updated_outside_ingest"
)

# Daily assets inside the ingest jobs (aggregates, sales, analysis): follow a raw day materialized
# any other way (odf trigger, a backfill of the raw asset, the UI).
FOLLOW_DAILY_INPUTS = _follow(_UPDATED_OUTSIDE_INGEST, "follow_daily_inputs")
# Consolidations span sources, so no ingest job runs them: they follow every update.
FOLLOW_EVERY_INPUT_UPDATE = _follow(_UPDATED, "follow_every_input_update")

# Weekly assets: all seven days stored and one of them newly materialized. Days only requested
# this tick don't count: they run in another (daily) run, which a weekly run must not overtake.
_DAY_MATERIALIZED = (AC.newly_updated() & ~AC.executed_with_root_target()).with_label("newly_materialized")
FOLLOW_WEEK_OF_DAYS = (
    AC.any_deps_match(_DAY_MATERIALIZED).since_last_handled()
    & ~AC.any_deps_match(AC.missing() | AC.will_be_requested() | AC.in_progress()).with_label(
        "a_day_missing_or_pending"
    )
    & ~AC.in_progress()
).with_label("follow_week_of_days")
