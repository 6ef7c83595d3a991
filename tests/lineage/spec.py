"""Checks a received event against the OpenLineage spec via openlineage-python's typed classes.

The client ships no JSON schema files, but its classes are generated from the spec, with validators
(UUID run ids, ISO-8601 times, the event-type enum). Rebuilding each event from them and
serializing back must give exactly what was received: a missing required field, an unknown field,
a wrong ``_schemaURL`` or an invalid value all fail.
"""

from __future__ import annotations

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    datasource_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    schema_dataset,
    tags_run,
)
from openlineage.client.serde import Serde


def _producer(facet: dict) -> dict:
    return {"producer": facet["_producer"]}


RUN_FACETS = {
    "parent": lambda f: parent_run.ParentRunFacet(
        run=parent_run.Run(**f["run"]), job=parent_run.Job(**f["job"]), **_producer(f)
    ),
    "nominalTime": lambda f: nominal_time_run.NominalTimeRunFacet(
        nominalStartTime=f["nominalStartTime"], nominalEndTime=f.get("nominalEndTime"), **_producer(f)
    ),
    "errorMessage": lambda f: error_message_run.ErrorMessageRunFacet(
        message=f["message"],
        programmingLanguage=f["programmingLanguage"],
        stackTrace=f.get("stackTrace"),
        **_producer(f),
    ),
    # openlineage-python adds its own version as a run tag.
    "tags": lambda f: tags_run.TagsRunFacet(tags=[tags_run.TagsRunFacetFields(**t) for t in f["tags"]], **_producer(f)),
}
JOB_FACETS = {
    "jobType": lambda f: job_type_job.JobTypeJobFacet(
        processingType=f["processingType"], integration=f["integration"], jobType=f.get("jobType"), **_producer(f)
    ),
}
DATASET_FACETS = {
    "schema": lambda f: schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(**field) for field in f["fields"]], **_producer(f)
    ),
    "dataSource": lambda f: datasource_dataset.DatasourceDatasetFacet(
        name=f.get("name"), uri=f.get("uri"), **_producer(f)
    ),
}
OUTPUT_FACETS = {
    "outputStatistics": lambda f: output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=f.get("rowCount"), size=f.get("size"), **_producer(f)
    ),
}


def _facets(registry: dict, facets: dict | None) -> dict:
    unknown = set(facets or {}) - set(registry)
    assert not unknown, f"facets this validator does not know: {unknown}"
    return {name: registry[name](value) for name, value in (facets or {}).items()}


def validate(body: dict) -> RunEvent:
    """The typed event equal to ``body``; raises/asserts if ``body`` is not a valid RunEvent."""
    event = RunEvent(
        eventType=RunState(body["eventType"]),
        eventTime=body["eventTime"],
        producer=body["producer"],
        run=Run(runId=body["run"]["runId"], facets=_facets(RUN_FACETS, body["run"].get("facets"))),
        job=Job(
            namespace=body["job"]["namespace"],
            name=body["job"]["name"],
            facets=_facets(JOB_FACETS, body["job"].get("facets")),
        ),
        inputs=[
            InputDataset(namespace=d["namespace"], name=d["name"], facets=_facets(DATASET_FACETS, d.get("facets")))
            for d in body.get("inputs", [])
        ],
        outputs=[
            OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=_facets(DATASET_FACETS, d.get("facets")),
                outputFacets=_facets(OUTPUT_FACETS, d.get("outputFacets")),
            )
            for d in body.get("outputs", [])
        ],
    )
    rebuilt = Serde.to_dict(event)
    assert rebuilt == body, f"event differs from its spec-typed rebuild:\nreceived {body}\nrebuilt  {rebuilt}"
    return event
