"""``odf_lineage_sensor``: delivers OpenLineage events from the code location, at least once.

It runs wherever ODF's code location runs (the Helm chart's user deployment, ``dagster dev``), so no
Dagster image needs ODF installed and no instance setting has to change. Each tick reads the next
records after a durable cursor (``odf_resources.lineage.feed``), sends their events in storage
order, and stores the position of the last event the backend accepted. Runs never wait on it: a
down or slow backend only delays lineage. After a failed send the tick stops, keeps its place and
backs off exponentially; nothing is dropped, however long the backend is away.

The cursor is ``{"after": storage id of the last fully sent record, "sent": events of the next
record already sent, "failures": n, "retry_at": epoch seconds}``; ``sent`` lets a tick resume in
the middle of a record (a range run's planned event is one START per day).

Environment (all optional): ``ODF_LINEAGE_SENSOR_INTERVAL_SECONDS`` (30), ``ODF_LINEAGE_BATCH_SIZE``
(records per tick, 200), ``ODF_LINEAGE_TICK_SECONDS`` (no new send starts after it, 20), ``ODF_LINEAGE_TIMEOUT_SECONDS``
(per HTTP request, 30: a backend that needs 30 s per event still makes progress, one event a tick;
budget + timeout stay under Dagster's 60 s sensor timeout),
``ODF_LINEAGE_BACKOFF_SECONDS`` (first backoff, doubling up to 600 s; 10), ``ODF_LINEAGE_SETTLE_SECONDS``
(records are read once this old, 5: see ``feed.read_records``), plus openlineage-python's
``OPENLINEAGE_*`` transport variables and ``OPENLINEAGE_NAMESPACE`` (default ``odf``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import dagster as dg

from odf_resources import settings
from odf_resources.lineage.transport import build_client, redact, transport_configured

if TYPE_CHECKING:
    from odf_resources.lineage.feed import Naming

LINEAGE_SENSOR = "odf_lineage_sensor"
DEFAULT_NAMESPACE = "odf"
MAX_BACKOFF_SECONDS = 600.0
BACKLOG_CAP = 1000


@dataclass
class LineageCursor:
    after: int = -1
    sent: int = 0
    failures: int = 0
    retry_at: float = 0.0

    @classmethod
    def parse(cls, raw: str | None) -> LineageCursor:
        return cls(**json.loads(raw)) if raw else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Settings:
    batch_size: int
    tick_seconds: float
    timeout: float
    backoff_seconds: float
    settle_seconds: float = 5.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            batch_size=settings.current().lineage_batch_size,
            tick_seconds=settings.current().lineage_tick_seconds,
            timeout=settings.current().lineage_timeout_seconds,
            backoff_seconds=settings.current().lineage_backoff_seconds,
            settle_seconds=settings.current().lineage_settle_seconds,
        )


@dataclass
class TickOutcome:
    cursor: LineageCursor
    delivered: int = 0
    error: str | None = None
    more: bool = False


def deliver(
    instance: dg.DagsterInstance,
    cursor: LineageCursor,
    send: Callable[[object], None],
    naming: Naming,
    config: Settings,
    now: Callable[[], float] = time.time,
) -> TickOutcome:
    """Send events after ``cursor`` until the batch is done, the tick budget is spent or a send fails."""
    from odf_resources.lineage.feed import lineage_events, read_records  # openlineage-python: import on first tick

    outcome = TickOutcome(cursor=LineageCursor(cursor.after, cursor.sent, cursor.failures, cursor.retry_at))
    deadline = time.monotonic() + config.tick_seconds
    records, outcome.more = read_records(
        instance, cursor.after, config.batch_size, before=now() - config.settle_seconds
    )
    position = outcome.cursor
    for record in records:
        events = lineage_events(instance, record, naming)
        for event in events[position.sent :]:
            if time.monotonic() > deadline:
                outcome.more = True
                return outcome
            try:
                send(event)
            except Exception as error:  # noqa: BLE001 - the backend's problem, retried on a later tick
                outcome.error = f"{type(error).__name__}: {redact(str(error))[:300]}"
                position.failures += 1
                backoff = min(config.backoff_seconds * 2 ** (position.failures - 1), MAX_BACKOFF_SECONDS)
                position.retry_at = now() + backoff
                return outcome
            position.sent += 1
            position.failures, position.retry_at = 0, 0.0
            outcome.delivered += 1
        position.after, position.sent = record.storage_id, 0
    return outcome


def backlog(instance: dg.DagsterInstance, cursor: LineageCursor) -> int:
    """Records still to send (capped at ``BACKLOG_CAP``): the lag a dashboard or alert can watch."""
    from odf_resources.lineage.feed import read_records

    records, _ = read_records(instance, cursor.after, BACKLOG_CAP)
    return len(records)


def build_lineage_sensor(interval_seconds: int | None = None) -> dg.SensorDefinition:
    interval = interval_seconds or settings.lineage_sensor_interval_seconds()

    @dg.sensor(
        name=LINEAGE_SENSOR,
        minimum_interval_seconds=interval,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Sends OpenLineage START/COMPLETE/FAIL/ABORT events for every asset partition, "
        "at least once (docs/lineage.md).",
    )
    def odf_lineage_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        if not transport_configured():
            return dg.SensorResult(
                skip_reason="no OpenLineage transport configured (OPENLINEAGE_URL / OPENLINEAGE_CONFIG)"
            )
        cursor = LineageCursor.parse(context.cursor)
        if cursor.retry_at > time.time():
            wait = cursor.retry_at - time.time()
            return dg.SensorResult(
                skip_reason=f"backing off after {cursor.failures} failed send(s); next attempt in {wait:.0f}s"
            )
        config = Settings.from_env()
        from odf_resources.lineage.feed import Naming

        naming = Naming(settings.storage_uri(), settings.lineage_namespace(DEFAULT_NAMESPACE))
        client = build_client(config.timeout)
        outcome = deliver(context.instance, cursor, client.emit, naming, config)
        pending = backlog(context.instance, outcome.cursor)
        summary = (
            f"sent {outcome.delivered} event(s); backlog {pending}{'+' if pending >= BACKLOG_CAP else ''} record(s)"
        )
        if outcome.error:
            context.log.warning(
                f"OpenLineage send failed ({outcome.error}); {summary}; retrying in "
                f"{outcome.cursor.retry_at - time.time():.0f}s from the same event"
            )
        else:
            context.log.info(f"OpenLineage: {summary}")
        return dg.SensorResult(cursor=outcome.cursor.dump(), skip_reason=summary)

    return odf_lineage_sensor
