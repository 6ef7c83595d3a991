"""The queued-run sensor: every QUEUED run carries tag ``odf/queue_state`` saying why it waits
("queued: waiting for pool P (k of n slots in use by runs …)"), the text ``odf trigger --wait`` and
``odf status`` print, so the UI's run page and runs list say it too.

Dagster's ``run_status_sensor`` fires once when a run is enqueued, but a queued run's reason changes
while it waits (other runs take and free the slots), so this is a plain sensor over the instance's
queued runs. A tick reads the queued runs (one query; nothing more when there are none), the runs in
progress and the limits of their pools, and writes a tag only when its text changed. When a run
leaves the queue its tag says so, naming what it waited for.
"""

from __future__ import annotations

import json

import dagster as dg

from odf_resources.run_tags import QUEUE_STATE_TAG, queue_state_text

QUEUE_STATE_SENSOR = "odf_queued_run_state"
# One tick tags at most this many queued runs, oldest first (the next ticks take the rest).
MAX_RUNS_PER_TICK = 100
DEQUEUED_PREFIX = "dequeued: "


def _pools(run: dg.DagsterRun) -> list[str]:
    concurrency = run.run_op_concurrency
    return sorted(concurrency.all_pools) if concurrency and concurrency.all_pools else []


def queued_run_states(instance: dg.DagsterInstance) -> dict[str, str]:
    """The queue state text of every QUEUED run (up to ``MAX_RUNS_PER_TICK``), by run id."""
    queued = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]), limit=MAX_RUNS_PER_TICK)
    if not queued:
        return {}
    in_progress = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))
    holders = {run.run_id: _pools(run) for run in in_progress}
    limits: dict[str, int | None] = {}

    def pool_limit(pool: str) -> int | None:
        if pool not in limits:
            limits[pool] = instance.event_log_storage.get_concurrency_info(pool).limit
        return limits[pool]

    return {run.run_id: queue_state_text(_pools(run), holders, pool_limit) for run in queued}


def build_queue_state_sensor(minimum_interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(
        name=QUEUE_STATE_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Tags every queued run with why it waits (odf/queue_state), as `odf status` says it.",
    )
    def queued_run_state(context: dg.SensorEvaluationContext):
        # The cursor: the text last written per run still queued at the previous tick.
        written: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        states = queued_run_states(context.instance)
        for run_id, text in states.items():
            if written.get(run_id) != text:
                context.instance.add_run_tags(run_id, {QUEUE_STATE_TAG: text})
        for run_id in set(written) - set(states):
            # Left the queue (started, or canceled): keep what it waited for, say it no longer waits.
            if context.instance.get_run_by_id(run_id) is not None:
                waited = written[run_id].removeprefix("queued: ")
                context.instance.add_run_tags(run_id, {QUEUE_STATE_TAG: f"{DEQUEUED_PREFIX}was {waited}"})
        context.update_cursor(json.dumps(states))
        changed = sum(written.get(run_id) != text for run_id, text in states.items())
        return dg.SkipReason(f"{len(states)} queued run(s), {changed} tag(s) updated")

    return queued_run_state
