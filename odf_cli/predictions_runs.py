"""Why landed iris items are not predicted yet, from the runs in the Dagster instance."""

from __future__ import annotations

import dagster as dg

from odf_assets.predictions.assets import IRIS_PREDICTIONS_JOB
from odf_cli.progress import first_line, step_error_text
from odf_resources.run_tags import PARTITION_TAG


def _first_line(text: str | None) -> str:
    return first_line(text) or "no reason recorded"


def failure_reason(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first line of the first failed step's error, or of the run failure."""
    for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE}):
        event = entry.get_dagster_event()
        error = event.step_failure_data.error if event.event_type == dg.DagsterEventType.STEP_FAILURE else None
        if error is not None:
            return _first_line(step_error_text(error.message, error.cause.message if error.cause else None))
        return _first_line(event.message or entry.message)
    return "no reason recorded"


def pending_reason(instance: dg.DagsterInstance, partition: str) -> str:
    """One sentence for the unpredicted items of ``partition``."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=IRIS_PREDICTIONS_JOB, tags={PARTITION_TAG: partition}), limit=1
    )
    if not runs:
        return (
            "no predictions run for this date yet (the landing sensor requests one while `odf dev` or the daemon runs)"
        )
    run = runs[0]
    if run.status == dg.DagsterRunStatus.FAILURE:
        return f"last run {run.run_id} failed: {failure_reason(instance, run.run_id)}"
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return f"landed after the last run {run.run_id} (the sensor requests another run)"
    return f"run {run.run_id} is {run.status.value}"
