"""The ODF code location: every asset, check, job, resource, schedule and sensor."""

from __future__ import annotations

import warnings

import dagster as dg

# backfill_policy and Output(data_version=...) are beta in Dagster 1.13 and used on purpose
# (range backfills, content-hash versions); their warnings would drown every log.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
# Partitioned asset checks (one evaluation per check per day) are a preview feature in 1.13.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from odf_assets.analysis.assets import build_analysis_assets
from odf_assets.automation import build_automation_sensor
from odf_assets.jobs import build_jobs
from odf_assets.k8s_config import step_executor
from odf_assets.partitions import daily_partitions, weekly_partitions
from odf_assets.predictions.definitions import build_prediction_definitions
from odf_assets.registry_loader import load_sources_and_consolidations, registry_files
from odf_assets.sales.assets import SALES_SOURCE, build_sales_assets
from odf_assets.sources.assets import IO_MANAGER_KEY, build_source_assets
from odf_assets.sources.consolidation_assets import build_consolidation_assets
from odf_resources import settings
from odf_resources.parquet_io_manager import PolarsParquetIOManager
from odf_resources.source_fetcher import SourceFetcher, registry_file_roots
from odf_resources.storage_resource import OdfStorage
from odf_sensors.definitions import build_orchestration_definitions
from odf_sensors.lineage import build_lineage_sensor


def build_definitions() -> dg.Definitions:
    sources, consolidations = load_sources_and_consolidations()
    assets = build_source_assets(sources)
    by_name = {source.name: source for source in sources if source.active}
    daily = weekly = None
    if SALES_SOURCE in by_name:
        default = by_name[SALES_SOURCE]
        assets += build_sales_assets(default)
        assets += build_analysis_assets(default)
        daily = daily_partitions(default.start_date, default.end_date)
        weekly = weekly_partitions(default.start_date, default.end_date)
    # Kept out of the per-source ingest jobs (they span sources): the automation sensor runs them.
    consolidation_assets = build_consolidation_assets(consolidations)
    file_roots = registry_file_roots(registry_files(), settings.extra_file_roots())
    core = dg.Definitions(
        assets=assets + consolidation_assets,
        jobs=build_jobs(assets, daily, weekly),
        sensors=[build_automation_sensor(settings.automation_interval_seconds())],
        resources={
            IO_MANAGER_KEY: PolarsParquetIOManager(base=settings.storage_uri()),
            # Assets that publish the passing days of a partly failed range write through it.
            "odf_storage": OdfStorage(base=settings.storage_uri()),
            "source_fetcher": SourceFetcher(
                file_roots=file_roots,
                allowed_hosts=settings.allowed_source_hosts(),
                deadline_seconds=settings.fetch_deadline_seconds(),
                ca_bundle=settings.source_ca_bundle(),
            ),
        },
    )
    # In the cluster every step gets its own pod, sized by its op tags (odf_assets/k8s_config.py);
    # lineage leaves from this code location (odf_sensors/lineage.py).
    platform = dg.Definitions(executor=step_executor(), sensors=[build_lineage_sensor()])
    return dg.Definitions.merge(
        core, build_prediction_definitions(), build_orchestration_definitions(sources, assets), platform
    )


defs = build_definitions()
