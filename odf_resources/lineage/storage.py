"""The ``event_log_storage`` ODF configures in ``dagster.yaml``: dagster-openlineage's wrapper, ODF-flavoured.

Why the wrapper and not ``openlineage_sensor``: it pushes from whichever process stores the event
(run worker, webserver, daemon) with no cursor to keep and nothing to turn on, and it wraps any
event log (Postgres in production, SQLite locally); the sensor needs the consolidated SQLite or
Postgres event log and starts stopped under ``dagster dev``. Exactly one of the two must be used.

What ODF changes on top of ``OpenLineageEventLogStorage`` (whose storage-first ordering and
exception guard in ``store_event`` stay as they are):

* datasets are named after where ODF stores them (``lineage.naming``), with inputs from the
  ``odf/lineage`` metadata the IO manager publishes, and nominal time from the partition window;
* events go through ``BackgroundEmitter``: materializations never wait on the lineage backend;
* every ``EventLogStorage`` member is delegated to the wrapped storage, not only the abstract
  ones: the library leaves e.g. ``supports_global_concurrency_limits``, ``get_stats_for_run``,
  ``dispose`` and ``alembic_version`` on the base-class defaults, silently changing behaviour.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import yaml
from dagster import Field, StringSource
from dagster._core.events import DagsterEventType
from dagster._core.storage.event_log.base import EventLogStorage
from dagster._serdes import ConfigurableClassData
from openlineage.client.event_v2 import RunState
from dagster_openlineage.storage import (
    OpenLineageEventLogStorage,
    _make_method_delegate,
    _make_property_delegate,
)

from odf_resources import settings
from odf_resources.lineage.emitter import (
    DEFAULT_FLUSH_TIMEOUT_SECONDS,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_TIMEOUT_SECONDS,
    BackgroundEmitter,
    transport_configured,
)
from odf_resources.lineage.events import (
    LineageContext,
    complete_event,
    failure_event,
    root_cause_message,
    start_events,
)

DEFAULT_JOB_NAMESPACE = "odf"


class _AdapterUnused:
    """Stands in for the library's adapter, so none is built: ``_dispatch`` below sends every event."""


class OdfLineageEventLogStorage(OpenLineageEventLogStorage):
    """Wraps an event log and emits an OpenLineage run per asset partition materialization."""

    def __init__(
        self,
        wrapped: EventLogStorage,
        *,
        storage_base: str | None = None,
        namespace: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT_SECONDS,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        # Unset: ODF_STORAGE of the emitting process, the same value the IO manager resolves.
        self._storage_base = storage_base
        self._job_namespace = namespace or os.environ.get("OPENLINEAGE_NAMESPACE") or DEFAULT_JOB_NAMESPACE
        self.emitter = BackgroundEmitter(timeout=timeout, queue_size=queue_size, flush_timeout=flush_timeout)
        super().__init__(wrapped, namespace=self._job_namespace, timeout=timeout, adapter=_AdapterUnused(), inst_data=inst_data)  # type: ignore[arg-type]  # fmt: skip

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        # The library's namespace_template and strict_assertion_mapping do not apply to ODF's events.
        inherited = {k: v for k, v in super().config_type().items() if k in ("wrapped", "namespace", "timeout")}
        return {
            **inherited,
            "storage_base": Field(StringSource, is_required=False),
            "queue_size": Field(int, is_required=False, default_value=DEFAULT_QUEUE_SIZE),
            "flush_timeout": Field(float, is_required=False, default_value=DEFAULT_FLUSH_TIMEOUT_SECONDS),
        }

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]):
        wrapped = config_value["wrapped"]
        inner = ConfigurableClassData(
            module_name=wrapped["module"],
            class_name=wrapped["class"],
            config_yaml=_yaml_dump(wrapped.get("config") or {}),
        ).rehydrate(as_type=EventLogStorage)
        return cls(
            inner,
            storage_base=config_value.get("storage_base"),
            namespace=config_value.get("namespace"),
            timeout=config_value.get("timeout", DEFAULT_TIMEOUT_SECONDS),
            queue_size=config_value.get("queue_size", DEFAULT_QUEUE_SIZE),
            flush_timeout=config_value.get("flush_timeout", DEFAULT_FLUSH_TIMEOUT_SECONDS),
            inst_data=inst_data,
        )

    def dispose(self) -> None:
        self.emitter.close()
        self._wrapped.dispose()

    def _dispatch(self, event: Any) -> None:
        """Called by the library's ``store_event`` after the wrapped storage accepted ``event``."""
        if not getattr(event, "is_dagster_event", False):
            return
        dagster_event = event.get_dagster_event()
        kind, data = dagster_event.event_type, dagster_event.event_specific_data
        # Without a transport nothing is sent: skip building events and reading the run's records.
        if kind not in _HANDLED or not transport_configured():
            return
        ctx = LineageContext(
            storage_base=self._storage_base or settings.storage_uri(),
            job_namespace=self._job_namespace,
            dagster_run_id=event.run_id,
            dagster_job_name=event.job_name or dagster_event.job_name or "unknown",
            timestamp=event.timestamp,
        )
        if kind == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            lineage_events = start_events(ctx, data)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            lineage_events = [complete_event(ctx, data.materialization)]
        elif kind == DagsterEventType.STEP_FAILURE:
            message = root_cause_message(data.error)
            unfinished = self._unfinished(event.run_id, failed_step=dagster_event.step_key)
            lineage_events = [failure_event(ctx, RunState.FAIL, *item, message) for item in unfinished]
        else:
            message = f"the run ended ({kind.value}) before this asset partition was materialized"
            lineage_events = [failure_event(ctx, RunState.ABORT, *item, message) for item in self._unfinished(event.run_id)]
        for lineage_event in lineage_events:
            self.emitter.emit(lineage_event)

    def _unfinished(self, run_id: str, failed_step: str | None = None) -> list[tuple[str, str | None]]:
        """Planned (asset, partition)s of ``failed_step`` (or, without it, of steps that did not fail)
        that have no materialization in the run.

        Read back from the event log rather than remembered: in production the planned events are
        stored by the webserver or daemon that created the run, the failure by the run worker.
        (OSS event logs drop ASSET_FAILED_TO_MATERIALIZE, so failures arrive only as step/run events.)
        """
        planned: dict[tuple[str, str | None], str | None] = {}
        materialized, failed_steps = set(), set()
        for record in self._wrapped.get_records_for_run(run_id, of_type=_OUTCOME_TYPES).records:
            dagster_event = record.event_log_entry.get_dagster_event()
            data = dagster_event.event_specific_data
            if dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                keys = data.partitions_subset.get_partition_keys() if data.partitions_subset else [data.partition]
                planned.update({(data.asset_key.to_user_string(), key): dagster_event.step_key for key in keys})
            elif dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                materialized.add((data.materialization.asset_key.to_user_string(), data.materialization.partition))
            else:
                failed_steps.add(dagster_event.step_key)
        wanted = (lambda step: step == failed_step) if failed_step else (lambda step: step not in failed_steps)
        return sorted((item for item, step in planned.items() if wanted(step) and item not in materialized),
                      key=lambda item: (item[0], item[1] or ""))  # fmt: skip


_HANDLED = frozenset(
    {
        DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.RUN_FAILURE,
        DagsterEventType.RUN_CANCELED,
    }
)
_OUTCOME_TYPES = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.STEP_FAILURE,
}


def _yaml_dump(value: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(value))


# Delegate every public EventLogStorage member the library left on base-class defaults.
for _name in dir(EventLogStorage):
    if _name.startswith("_") or _name in vars(OpenLineageEventLogStorage) or _name in vars(OdfLineageEventLogStorage):
        continue
    _member = inspect.getattr_static(EventLogStorage, _name)
    if isinstance(_member, property):
        setattr(OdfLineageEventLogStorage, _name, _make_property_delegate(_name))
    elif inspect.isfunction(_member):
        setattr(OdfLineageEventLogStorage, _name, _make_method_delegate(_name))
