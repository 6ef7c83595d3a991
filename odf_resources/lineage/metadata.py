"""What the IO manager tells lineage about one output: its upstream assets and its time window.

The event-log wrapper only sees the materialization event, not the asset graph or the partitions
definition, so the IO manager (which has both) publishes them as one JSON metadata entry.
"""

import logging

import dagster as dg

from odf_resources.lineage.naming import LINEAGE_METADATA_KEY, iso_utc

log = logging.getLogger(__name__)


def upstream_asset_keys(context: dg.OutputContext) -> list[str]:
    """The asset's parents in the Dagster asset graph (inputs and ``deps`` alike), as user strings."""
    node = context.step_context.job_def.asset_layer.get(context.asset_key)
    return sorted(key.to_user_string() for key in node.parent_keys)


def partition_window(context: dg.OutputContext, partition_key: str | None) -> dg.TimeWindow | None:
    """The partition's time window, or None for unpartitioned and non-time partitions."""
    partitions_def = context.asset_partitions_def if context.has_asset_partitions else None
    if partition_key is None or not isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return None
    return partitions_def.time_window_for_partition_key(partition_key)


def lineage_entry(inputs: list[str], window: dg.TimeWindow | None) -> dict[str, dg.MetadataValue]:
    """The ``odf/lineage`` metadata entry: upstream asset keys and the partition's nominal time."""
    payload: dict[str, object] = {"inputs": inputs}
    if window is not None:
        payload["nominal_start"] = iso_utc(window.start)
        payload["nominal_end"] = iso_utc(window.end)
    return {LINEAGE_METADATA_KEY: dg.MetadataValue.json(payload)}


def lineage_metadata(context: dg.OutputContext, partition_key: str | None) -> dict[str, dg.MetadataValue]:
    """The ``odf/lineage`` entry for one stored partition; empty (never an error) if unavailable."""
    try:
        return lineage_entry(upstream_asset_keys(context), partition_window(context, partition_key))
    except Exception as error:  # noqa: BLE001 - lineage must never fail a materialization
        # e.g. an OutputContext built by hand in a unit test has no step context.
        log.debug("no lineage metadata for %s: %s", context.asset_key.to_user_string(), error)
        return {}
