"""Names every layer shares: resource keys, queues, pools and the partition column.

Plain strings with no imports, so any module (and the ``odf`` CLI, before it loads Dagster) can
use them without depending on another domain.
"""

# Resource keys of the code location (odf_resources/definitions.py binds them).
IO_MANAGER_KEY = "parquet_io_manager"
STORAGE_RESOURCE_KEY = "odf_storage"
SOURCE_FETCHER_KEY = "source_fetcher"

# Every stored dataset is partitioned by this column (``date=YYYY-MM-DD/`` in storage).
PARTITION_COLUMN = "date"

# Dagster pools limit the two queues on every launch path (dagster.yaml: concurrency.pools).
ACQUISITION_POOL = "odf_acquisition"  # raw assets: they fetch from source servers
AGGREGATION_POOL = "odf_aggregation"  # everything computed from stored data

# Run tags naming a run's queue, for people and alerts; the limits are the pools above.
QUEUE_TAG = "odf/queue"
ACQUISITION_TAGS = {QUEUE_TAG: "acquisition"}
AGGREGATION_TAGS = {QUEUE_TAG: "aggregation"}
