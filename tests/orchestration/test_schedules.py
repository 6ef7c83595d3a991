"""Each schedule, evaluated at chosen tick times, requests the partition that closed just before
the tick (or skips outside the source's range), with the queue tags the run coordinator limits."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from odf.definitions import build_definitions
from odf_assets.registry_loader import load_sources
from odf_assets.sales.assets import build_sales_assets
from odf_assets.sources.assets import build_source_assets
from odf_resources import definitions as resources_layer
from odf_sensors import definitions as orchestration_layer
from tests.support.pipeline import shop_source, write_registry

SAMPLE_DAILY = "ingest_iowa_liquor_sales_daily"
WEEKLY = "weekly_sales_schedule"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def open_source(**overrides) -> dict:
    return shop_source(
        name="city_counts",
        description="Open-ended test source.",
        url_template="http://127.0.0.1:9/{date}.csv",
        format="csv",
        schema={"city": "string", "n": "int64"},
        start_date="2025-01-01",
        fetch_cron="15 6 * * *",
        aggregates=[
            {"name": "by_city", "group_by": ["city"], "metrics": [{"agg": "sum", "column": "n", "name": "total"}]}
        ],
        **overrides,
    )


@pytest.fixture
def orchestration(tmp_path, monkeypatch):
    """Orchestration definitions over the built-in registry plus an open-ended source (via ODF_SOURCES)."""

    def build(**env: str) -> dg.Definitions:
        monkeypatch.setenv("ODF_SOURCES", str(write_registry(tmp_path, [open_source()])))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        sources = load_sources()
        by_name = {s.name: s for s in sources}
        assets = build_source_assets(sources) + build_sales_assets(by_name["iowa_liquor_sales"])
        # Whole definitions (assets, resources, orchestration): schedules resolve against them.
        return dg.Definitions.merge(
            dg.Definitions(assets=assets), resources_layer.defs([]), orchestration_layer.defs(sources, assets, now=NOW)
        )

    return build


def schedule(defs: dg.Definitions, name: str) -> dg.ScheduleDefinition:
    """Resolved against the definitions, as the daemon sees it (a partitioned job's schedule is bound there)."""
    return defs.resolve_schedule_def(name)


def evaluate(defs: dg.Definitions, name: str, tick: str):
    context = dg.build_schedule_context(scheduled_execution_time=datetime.fromisoformat(tick))
    return schedule(defs, name)(context)


@pytest.mark.parametrize(
    ("tick", "partition"),
    [
        ("2024-01-10T01:30:00+00:00", "2024-01-09"),
        ("2024-01-02T01:30:00+00:00", "2024-01-01"),  # the first day closes at the next midnight
        ("2024-03-01T01:30:00+00:00", "2024-02-29"),  # leap day
        ("2024-04-01T01:30:00+00:00", "2024-03-31"),  # the sample's last day
        ("2024-01-10T23:59:00+00:00", "2024-01-09"),  # a late tick still asks for the closed day only
    ],
)
def test_sample_daily_schedule_requests_the_day_that_closed(orchestration, tick, partition):
    request = evaluate(orchestration(), SAMPLE_DAILY, tick)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == partition
    assert request.run_key == f"iowa_liquor_sales:{partition}"
    assert request.tags["odf/queue"] == "acquisition"


@pytest.mark.parametrize(
    "tick", ["2024-01-01T01:30:00+00:00", "2024-04-02T01:30:00+00:00", "2026-05-31T01:30:00+00:00"]
)
def test_sample_daily_schedule_skips_outside_the_sources_range(orchestration, tick):
    result = evaluate(orchestration(), SAMPLE_DAILY, tick)
    assert isinstance(result, dg.SkipReason)
    assert "iowa_liquor_sales: no partition closed before" in result.skip_message
    assert "2024-01-01..2024-04-01 exclusive" in result.skip_message


def test_open_source_schedule_follows_its_fetch_cron_and_covers_raw_and_downstream(orchestration):
    defs = orchestration()
    daily = schedule(defs, "ingest_city_counts_daily")
    assert daily.cron_schedule == "15 6 * * *" and daily.execution_timezone == "UTC"
    request = evaluate(defs, "ingest_city_counts_daily", "2026-05-31T06:15:00+00:00")
    assert request.partition_key == "2026-05-30"
    # The run selects the source's assets in the ingest job of its days, tagged with its source.
    selection = {k.to_user_string() for k in request.asset_selection}
    assert selection == {"raw/city_counts", "aggregates/city_counts/by_city"}
    assert request.tags == {"odf/queue": "acquisition", "odf/source": "city_counts"}
    assert daily.job_name == "ingest_daily_from_20250101"
    job = next(j for j in defs.jobs if j.name == daily.job_name)
    selected = job.selection.resolve(build_source_assets(load_sources()))
    assert set(request.asset_selection) == selected  # the only source on its days
    assert job.tags == {"odf/queue": "acquisition", "odf/ingest": "ingest_daily_from_20250101"}


def test_sample_schedule_chains_every_daily_asset_downstream_of_the_raw_one_and_no_weekly_one():
    defs = build_definitions()
    request = evaluate(defs, SAMPLE_DAILY, "2024-01-10T01:30:00+00:00")
    job = defs.resolve_job_def(schedule(defs, SAMPLE_DAILY).job_name).get_subset(
        asset_selection=set(request.asset_selection)
    )
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {
        "raw/iowa_liquor_sales",
        "aggregates/iowa_liquor_sales/sales_by_county",
        "sales/enriched_daily_summary",
        "analysis/stats",
    } <= keys
    assert not keys & {
        "sales/weekly_sales",
        "sales/sales_trends",
        "sales/top_sales_days",
        "predictions/iris_predictions",
    }
    assert isinstance(job.partitions_def, dg.DailyPartitionsDefinition)


@pytest.mark.parametrize(
    ("tick", "week"),
    [
        ("2024-01-08T04:00:00+00:00", "2024-01-01"),
        ("2024-01-15T04:00:00+00:00", "2024-01-08"),
        ("2024-01-17T12:00:00+00:00", "2024-01-08"),  # mid-week (manual tick): still the last closed week
        ("2024-04-01T04:00:00+00:00", "2024-03-25"),  # the sample's last whole week
    ],
)
def test_weekly_schedule_requests_the_week_that_closed(orchestration, tick, week):
    defs = orchestration()
    request = evaluate(defs, WEEKLY, tick)
    assert request.partition_key == week and request.run_key == week
    # Dagster launches the run with the job's tags merged under the request's.
    run_tags = {**defs.resolve_job_def("weekly_sales").tags, **request.tags}
    assert run_tags["odf/queue"] == "aggregation"


def test_weekly_schedule_skips_before_the_first_week_and_starts_nothing_new_after_the_last(orchestration):
    defs = orchestration()
    assert isinstance(evaluate(defs, WEEKLY, "2024-01-03T04:00:00+00:00"), dg.SkipReason)
    # After the range Dagster's partitioned schedule asks for the last week again, under the run key
    # of the tick that first requested it: the daemon starts no second run. (It defaults to stopped.)
    last = evaluate(defs, WEEKLY, "2024-04-01T04:00:00+00:00")
    after = evaluate(defs, WEEKLY, "2024-04-08T04:00:00+00:00")
    assert (after.partition_key, after.run_key) == (last.partition_key, last.run_key) == ("2024-03-25", "2024-03-25")
    assert schedule(defs, WEEKLY).default_status == dg.DefaultScheduleStatus.STOPPED


def test_schedule_requests_resolve_against_the_code_location():
    """Through Dagster's own tick evaluation: the requested partition is valid for the target job."""
    defs = build_definitions()
    repo = defs.get_repository_def()
    for name, tick, partition in [
        (SAMPLE_DAILY, "2024-02-02T01:30:00+00:00", "2024-02-01"),
        (WEEKLY, "2024-02-05T04:00:00+00:00", "2024-01-29"),
    ]:
        context = dg.build_schedule_context(scheduled_execution_time=datetime.fromisoformat(tick), repository_def=repo)
        data = schedule(defs, name).evaluate_tick(context)
        assert [r.partition_key for r in data.run_requests] == [partition]
        assert data.run_requests[0].tags["dagster/partition"] == partition
        selection = data.run_requests[0].asset_selection
        if selection is not None:  # the subset the daemon launches resolves in the target job
            job = repo.get_job(schedule(defs, name).job_name).get_subset(asset_selection=set(selection))
            assert job.asset_layer.executable_asset_keys == set(selection)


def test_default_status_stopped_unless_env_says_running_and_ended_sources_always_stopped(orchestration):
    statuses = {s.name: s.default_status for s in orchestration().schedules}
    assert set(statuses.values()) == {dg.DefaultScheduleStatus.STOPPED}
    statuses = {s.name: s.default_status for s in orchestration(ODF_SCHEDULES_DEFAULT_STATUS="running").schedules}
    assert statuses == {
        "ingest_city_counts_daily": dg.DefaultScheduleStatus.RUNNING,
        SAMPLE_DAILY: dg.DefaultScheduleStatus.STOPPED,  # ended 2024-03-31: its ticks would only skip
        WEEKLY: dg.DefaultScheduleStatus.STOPPED,
        "odf_maintenance_schedule": dg.DefaultScheduleStatus.RUNNING,  # crash leftovers, daily
    }
    with pytest.raises(ValueError, match="ODF_SCHEDULES_DEFAULT_STATUS='sometimes'"):
        orchestration(ODF_SCHEDULES_DEFAULT_STATUS="sometimes")


def test_ingest_jobs_resolve_as_dagster_resolves_them_against_the_whole_graph(orchestration):
    """Each ingest job (one per daily range) is resolved against only its own assets when they are a
    small part of the graph (odf_sensors/scoped_jobs.py, linear in the registry); what it resolves to
    is what ``dg.define_asset_job`` gives over the whole graph."""
    defs = orchestration()
    repository = defs.get_repository_def()
    graph = repository.asset_graph

    def shape(job: dg.JobDefinition):
        layer = job.asset_layer
        return (
            layer.executable_asset_keys,
            set(layer.asset_graph.get_all_asset_keys()),
            set(layer.asset_graph.asset_check_keys),
            job.partitions_def,
            job.tags,
            {node.name for node in job.graph.nodes},
        )

    for name in ("ingest_daily_from_20240101_to_20240331", "ingest_daily_from_20250101"):
        scoped = next(job for job in defs.jobs if job.name == name)
        whole = dg.define_asset_job(name, selection=scoped.selection, tags=scoped.tags, description=scoped.description)
        resources = repository.get_top_level_resources()
        assert shape(scoped.resolve(asset_graph=graph, resource_defs=resources)) == shape(
            whole.resolve(asset_graph=graph, resource_defs=resources)
        )
        assert shape(repository.get_job(name)) == shape(whole.resolve(asset_graph=graph, resource_defs=resources))
