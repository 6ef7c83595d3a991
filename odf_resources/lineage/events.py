"""OpenLineage RunEvents for Dagster asset events: START when planned, then COMPLETE, FAIL or ABORT.

Each event describes one lineage run (Dagster run × asset × partition) of one lineage job (the
asset), with the Dagster run as its parent, the asset's dataset as output and, on COMPLETE, the
upstream assets' datasets as inputs, the Polars schema and the partition's nominal time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState, set_producer
from openlineage.client.facet_v2 import (
    datasource_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
)

from odf_resources.lineage.naming import LINEAGE_METADATA_KEY, PRODUCER, dataset_identity, iso_utc, lineage_run_id

_INPUT_VERSION_TAG = "dagster/input_data_version/"
# Facets the client adds on emit (its version tag) take the global producer: make that ODF's too.
set_producer(PRODUCER)


@dataclass(frozen=True)
class LineageContext:
    """Where datasets live and which namespace lineage jobs use; plus the Dagster run being described."""

    storage_base: str
    job_namespace: str
    dagster_run_id: str
    dagster_job_name: str
    timestamp: float

    def dataset(self, asset: str) -> tuple[str, str]:
        return dataset_identity(self.storage_base, asset.split("/"))

    def event(self, state: RunState, asset: str, partition: str | None, **parts: Any) -> RunEvent:
        run_facets = {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.dagster_run_id),
                job=parent_run.Job(namespace=self.job_namespace, name=self.dagster_job_name),
                producer=PRODUCER,
            ),
            **parts.pop("run_facets", {}),
        }
        job_type = job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="DAGSTER", jobType="ASSET", producer=PRODUCER
        )
        namespace, name = self.dataset(asset)
        return RunEvent(
            eventType=state,
            eventTime=iso_utc(datetime.fromtimestamp(self.timestamp, tz=UTC)),
            producer=PRODUCER,
            run=Run(runId=lineage_run_id(self.dagster_run_id, asset, partition), facets=run_facets),
            job=Job(namespace=self.job_namespace, name=asset, facets={"jobType": job_type}),
            inputs=[InputDataset(namespace=ns, name=n) for ns, n in map(self.dataset, parts.pop("inputs", []))],
            outputs=[OutputDataset(namespace=namespace, name=name, **parts)],
        )


def nominal_time(start: str | None, end: str | None) -> dict[str, nominal_time_run.NominalTimeRunFacet]:
    if not start:
        return {}
    return {
        "nominalTime": nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=start, nominalEndTime=end, producer=PRODUCER
        )
    }


def nominal_start_only(partition: str | None) -> dict[str, nominal_time_run.NominalTimeRunFacet]:
    """Start of a time partition from its key alone, for events that carry no window.

    Dagster keys daily/weekly/hourly partitions by their start ("2024-01-07", "2024-01-07-13:00"),
    in UTC for ODF's partitions; the end depends on the partitions definition, so it is left out
    rather than guessed (a weekly key is not a one-day window). Other keys get no facet.
    """
    for layout in ("%Y-%m-%d", "%Y-%m-%d-%H:%M"):
        try:
            start = datetime.strptime(partition or "", layout).replace(tzinfo=UTC)
        except ValueError:
            continue
        return nominal_time(iso_utc(start), None)
    return {}


def start_events(ctx: LineageContext, planned: Any) -> list[RunEvent]:
    """One START per planned partition (or one for an unpartitioned asset), with its time window when known."""
    asset = planned.asset_key.to_user_string()
    subset = planned.partitions_subset
    if subset is None:
        return [ctx.event(RunState.START, asset, planned.partition, run_facets=nominal_start_only(planned.partition))]
    partitions_def = getattr(subset, "partitions_def", None)
    events = []
    for key in subset.get_partition_keys():
        facets = nominal_start_only(key)
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            window = partitions_def.time_window_for_partition_key(key)
            facets = nominal_time(iso_utc(window.start), iso_utc(window.end))
        events.append(ctx.event(RunState.START, asset, key, run_facets=facets))
    return events


def complete_event(ctx: LineageContext, materialization: dg.AssetMaterialization) -> RunEvent:
    """COMPLETE with inputs (upstream assets), schema, data source, statistics and nominal time."""
    metadata = materialization.metadata or {}
    published = _value(metadata.get(LINEAGE_METADATA_KEY)) or {}
    inputs = published.get("inputs")
    if inputs is None:  # not written by ODF's IO manager: fall back to Dagster's provenance tags
        tags = materialization.tags or {}
        inputs = sorted(tag[len(_INPUT_VERSION_TAG) :] for tag in tags if tag.startswith(_INPUT_VERSION_TAG))
    asset = materialization.asset_key.to_user_string()
    namespace, name = ctx.dataset(asset)
    location = f"{namespace}/{name}" if namespace.startswith("s3://") else Path(name).as_uri()
    facets: dict[str, Any] = {
        "dataSource": datasource_dataset.DatasourceDatasetFacet(name=namespace, uri=location, producer=PRODUCER)
    }
    schema = _value(metadata.get("dagster/column_schema"))
    if isinstance(schema, dg.TableSchema):
        fields = [
            schema_dataset.SchemaDatasetFacetFields(name=c.name, type=c.type, description=c.description)
            for c in schema.columns
        ]
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=fields, producer=PRODUCER)
    rows, size = _value(metadata.get("dagster/row_count")), _value(metadata.get("bytes"))
    output_facets = {}
    if isinstance(rows, int):
        statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, size=size if isinstance(size, int) else None, producer=PRODUCER
        )
        output_facets["outputStatistics"] = statistics
    return ctx.event(
        RunState.COMPLETE,
        asset,
        materialization.partition,
        run_facets=nominal_time(published.get("nominal_start"), published.get("nominal_end")),
        inputs=list(inputs),
        facets=facets,
        outputFacets=output_facets,
    )


def failure_event(ctx: LineageContext, state: RunState, asset: str, partition: str | None, message: str) -> RunEvent:
    """FAIL (the asset's step failed) or ABORT (the run ended before the asset's step ran)."""
    return ctx.event(
        state,
        asset,
        partition,
        run_facets={
            "errorMessage": error_message_run.ErrorMessageRunFacet(
                message=message.strip(), programmingLanguage="python", producer=PRODUCER
            ),
            **nominal_start_only(partition),
        },
    )


def root_cause_message(error: Any) -> str:
    """The innermost error's message: the user's exception, not Dagster's wrapper around it."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return getattr(error, "message", None) or "step failed"


def _value(entry: Any) -> Any:
    """The plain value of a metadata entry (``MetadataValue`` wrappers have ``.value``)."""
    return getattr(entry, "value", entry)
